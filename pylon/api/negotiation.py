"""Content negotiation that answers the common case without parsing: a client that accepts anything
(no ``Accept``, or ``*/*``) or exactly the first renderer's media type, and names no ``?format=``, gets
the first renderer, as DRF's negotiation would decide after parsing the header into media types
(a test holds the two to the same answers). Anything else is DRF's own negotiation."""

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.settings import api_settings


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if renderers and not format_suffix and api_settings.URL_FORMAT_OVERRIDE not in request.query_params:
            first = renderers[0]
            if request.headers.get("accept", "*/*") in ("*/*", first.media_type) and not any(
                mark in first.media_type for mark in ";*"
            ):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
