from rest_framework import serializers


class StreamTicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Single use; send it as `?ticket=` when opening the stream.")
    expires_at = serializers.DateTimeField(help_text="It must be used before this (`STREAM_TICKET_TTL_SECONDS`).")
    stream_url = serializers.CharField(help_text="The stream's path with the ticket: what `new EventSource()` opens.")
