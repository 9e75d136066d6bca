import re

from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings

from apikeys.models import ApiKeyScope
from events import selectors, slots, tickets
from events.api.authentication import StreamTicketAuthentication
from events.api.serializers import StreamTicketSerializer
from events.stream import StreamCaller, event_stream
from outbox import selectors as outbox_selectors
from outbox.models import OutboxEvent
from pylon.api.csv import CSVDownloadNegotiation
from pylon.api.permissions import is_api_key
from pylon.api.schema import error_response
from pylon.api.viewsets import ScopedAPIView

CURSOR = re.compile(r"[0-9]{1,19}")
CURSOR_PATTERN = f"^{CURSOR.pattern}$"
LAST_EVENT_ID = "last_event_id"

STREAM_DESCRIPTION = """\
A `text/event-stream` (Server-Sent Events) of what happens to the workloads the caller may see (their own; \
an operator's or an API key's: the organisation's; the service role's: all) and of the caller's own new \
notifications, in the order they were committed.

**Authentication.** A browser's `EventSource` cannot send headers: get a ticket with the JWT at \
`POST /api/v1/events/stream-tickets/` and open `/api/v1/events/stream/?ticket=…` (single use, valid 30 s). \
Other clients may send `Authorization: Bearer …` (a JWT or an API key with `workloads:read`) instead.

**Events.** Each is

    id: <cursor>
    event: <type>
    data: {"id": "evt_<cursor>", "type": "<type>", "created_at": "<ISO 8601>", "data": {…}}

with `type` one of `workload.submitted`, `.updated`, `.recommended`, `.unschedulable`, `.assigned`, \
`.started`, `.completed`, `.failed`, `.cancelled` — `data` is that event's webhook message's data \
(`WebhookMessage`: `data.workload` as `GET /api/v1/workloads/{id}/` shows it, as the change left it; \
`recommendations`, `constraint`, `reason`, `note` where they apply) plus the transition's `action` and \
`from_status` (and `workload.updated`'s `changed`) — or `notification.created` (`data.notification`: `id`, \
`kind`, `title`, `body`, `workload` (its id or null), `created_at`). Unknown types may be added: ignore \
them.

**Resuming.** Without a cursor the stream starts now. Send the last `id:` received as the `Last-Event-ID` \
header (an `EventSource` does on its own reconnects) or, when opening a new `EventSource` with a new \
ticket, as `?last_event_id=`: the stream replays, from the stored log, exactly what was missed (the log \
keeps `OUTBOX_RETENTION_DAYS` days).

**Liveness and limits.** A `retry:` hint first, then a `: ping` comment every `STREAM_HEARTBEAT_SECONDS` \
(15 s) while idle. At most `STREAM_MAX_CONNECTIONS` (5) open streams per user or API key: one more is a \
429 `too_many_streams`. A client that cannot keep up is disconnected and resumes from its cursor.
"""


class EventStreamNegotiation(CSVDownloadNegotiation):
    """The stream writes its own body; its errors are JSON in the one error format, whatever ``Accept`` says."""


def _principal(request) -> str:
    return f"key:{request.auth.pk}" if is_api_key(request.auth) else f"user:{request.user.pk}"


@extend_schema(tags=["events"])
class StreamTicketView(ScopedAPIView):
    model = OutboxEvent
    serializer_class = StreamTicketSerializer
    required_scopes = {"post": ApiKeyScope.WORKLOADS_READ}
    # A ticket is a credential: a retried request gets a new one, never a replay of a used one.
    idempotency_exempt = True

    def scoped_queryset(self, user):
        return selectors.stream_event_list(fetched_by=user)

    @extend_schema(
        operation_id="events_stream_tickets_create",
        summary="Get a ticket to open the live event stream",
        description=(
            "A short-lived (`STREAM_TICKET_TTL_SECONDS`, 30 s), single-use ticket bound to the caller (or API key), "
            "for opening `GET /api/v1/events/stream/?ticket=…` from a browser's `EventSource`, which cannot send "
            "the `Authorization` header. Get a new one for every connection, reconnects included."
        ),
        request=None,
        responses={
            201: OpenApiResponse(StreamTicketSerializer, description="The ticket, and the stream's URL with it.")
        },
    )
    def post(self, request):
        key_id = request.auth.pk if is_api_key(request.auth) else None
        ticket, expires_at = tickets.ticket_issue(user_id=request.user.pk, api_key_id=key_id)
        body = {"ticket": ticket, "expires_at": expires_at, "stream_url": f"{reverse('event-stream')}?ticket={ticket}"}
        return Response(StreamTicketSerializer(body).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["events"])
class EventStreamView(ScopedAPIView):
    model = OutboxEvent
    authentication_classes = [StreamTicketAuthentication, *api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    content_negotiation_class = EventStreamNegotiation
    required_scopes = {"get": ApiKeyScope.WORKLOADS_READ}

    def scoped_queryset(self, user):
        return selectors.stream_event_list(fetched_by=user)

    @extend_schema(
        operation_id="events_stream",
        summary="The live event stream (Server-Sent Events)",
        description=STREAM_DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "Last-Event-ID",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                pattern=CURSOR_PATTERN,
                description="Resume after this cursor (the last `id:` received).",
            ),
            OpenApiParameter(
                LAST_EVENT_ID,
                OpenApiTypes.STR,
                pattern=CURSOR_PATTERN,
                description="The same as the `Last-Event-ID` header, for a new `EventSource` (which cannot send it).",
            ),
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description="The stream (see above)."),
            400: error_response("The cursor is not a non-negative integer (`validation_error`)."),
            401: error_response(
                "No valid credentials: `stream_ticket_not_valid` (a ticket unknown, expired or used: get a new one), "
                "`not_authenticated`, `token_expired`, `token_not_valid`, `api_key_not_valid`, `api_key_expired`."
            ),
            429: error_response(
                "The caller already has `STREAM_MAX_CONNECTIONS` streams open (`too_many_streams`), or too many "
                "requests (`throttled`, see `Retry-After`)."
            ),
        },
    )
    def get(self, request):
        requested = self._requested_cursor(request)
        principal = _principal(request)
        connection = slots.slot_acquire(principal=principal)
        if connection is None:
            raise slots.TooManyStreams(
                f"You have {settings.STREAM_MAX_CONNECTIONS} live streams open already; close one first.",
            )
        try:
            head = outbox_selectors.event_log_head()
        except BaseException:
            slots.slot_release(principal=principal, connection=connection)
            raise
        caller = StreamCaller(
            user=request.user,
            api_key_id=str(request.auth.pk) if is_api_key(request.auth) else None,
            principal=principal,
            connection=connection,
        )
        cursor = head if requested is None else min(requested, head)
        response = StreamingHttpResponse(event_stream(caller, cursor=cursor), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache, no-store"
        response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        return response

    @staticmethod
    def _requested_cursor(request) -> int | None:
        raw = request.headers.get("Last-Event-ID") or request.query_params.get(LAST_EVENT_ID)
        if not raw:
            return None
        if not CURSOR.fullmatch(raw) or int(raw) >= 2**63:
            raise ValidationError({LAST_EVENT_ID: ["Must be the `id:` of an event received (a non-negative integer)."]})
        return int(raw)
