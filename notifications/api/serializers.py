from rest_framework import serializers

from notifications.models import Notification, NotificationKind
from workloads.models import ComputeWorkload


class NotificationWorkloadSerializer(serializers.ModelSerializer):
    class Meta:
        model = ComputeWorkload
        fields = ["id", "job_id", "workload_name"]


class NotificationSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=NotificationKind.choices, read_only=True)
    workload = NotificationWorkloadSerializer(read_only=True, allow_null=True)
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "workload", "created_at", "read_at", "is_read"]
        read_only_fields = fields

    def get_is_read(self, notification) -> bool:
        return notification.read_at is not None


class NotificationsMarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notifications were unread and are now read.")
