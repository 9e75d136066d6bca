"""The messages Pylon POSTs to webhook endpoints: their serializers document them in the schema (an
OpenAPI callback of ``webhooks_endpoints_create``) so that generated SDKs get their types, and
``workload_messages`` shapes them from outbox events."""

from drf_spectacular.utils import OpenApiCallback, OpenApiResponse, extend_schema
from rest_framework import serializers

from outbox.models import OutboxEvent
from webhooks.models import WebhookEventType
from webhooks.services import Message
from workloads import services as workload_services
from workloads.api.serializers import ComputeWorkloadSerializer, workload_snapshot_representations


class WebhookRecommendationSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    zone = serializers.UUIDField(help_text="The zone's id.")
    start = serializers.DateTimeField()
    expected_emissions_kg = serializers.DecimalField(max_digits=14, decimal_places=4)
    expected_cost_gbp = serializers.DecimalField(max_digits=14, decimal_places=4)


class WebhookMessageDataSerializer(serializers.Serializer):
    """What the event says: `workload` in every `workload.*` message, the others where they apply."""

    sparse = True  # its optional fields are absent where they do not apply (``PylonAutoSchema``)

    workload = ComputeWorkloadSerializer(
        required=False,
        help_text=(
            "Every `workload.*` message: the workload as the change left it, the same object as "
            "`GET /api/v1/workloads/{id}/` answers (its owner's name and zones' summaries as they are when sent)."
        ),
    )
    recommendations = WebhookRecommendationSerializer(many=True, required=False, help_text="`workload.recommended`.")
    constraint = serializers.CharField(
        required=False, help_text="`workload.unschedulable`: what rules every option out."
    )
    reason = serializers.CharField(required=False, help_text="`workload.unschedulable`: the same in words.")
    note = serializers.CharField(required=False, help_text="An operator's reason or note, when one was given.")
    endpoint = serializers.UUIDField(required=False, help_text="`ping`: the endpoint pinged.")


class WebhookMessageSerializer(serializers.Serializer):
    id = serializers.CharField(
        help_text="The event's stable id (`evt_…`; `msg_…` for a ping), also the `webhook-id` header."
    )
    type = serializers.ChoiceField(choices=WebhookEventType.choices)
    created_at = serializers.DateTimeField(help_text="When the event happened (not when this attempt was made).")
    data = WebhookMessageDataSerializer()


_DOCUMENT_RECEIVER = extend_schema(
    summary="A Pylon event, POSTed to the endpoint",
    description=(
        "Signed per Standard Webhooks, with three headers: `webhook-id` (the message id, the same on every "
        "retry: deduplicate on it), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature` "
        "(`v1,<base64 HMAC-SHA256 of {webhook-id}.{webhook-timestamp}.{body}>` keyed with the secret's base64 "
        "part; space-separated, two during a secret rotation). Answer 2xx within 10 s; anything else is "
        "retried for about three days."
    ),
    request=WebhookMessageSerializer,
    responses={(200, "text/plain"): OpenApiResponse(description="Any 2xx: received.")},
)


def _receiver(view_class):
    """The integrator's endpoint: Pylon's own error answers (``PylonAutoSchema``) are not its."""
    view_class = _DOCUMENT_RECEIVER(view_class)
    view_class.pylon_callback_receiver = True
    return view_class


WEBHOOK_MESSAGE_CALLBACK = OpenApiCallback(name="message", path="{$request.body#/url}", decorator=_receiver)


#: What an event's payload may add beside its workload (``outbox``'s payloads), as the message's ``data``.
_DETAILS = ("recommendations", "constraint", "reason", "note")
_SNAPSHOT_FIELDS = frozenset(workload_services.SNAPSHOT_FIELDS)


def _complete(snapshot: dict) -> bool:
    return snapshot.keys() >= _SNAPSHOT_FIELDS


def _snapshots(events: list[OutboxEvent]) -> list[dict | None]:
    """Each event's workload as recorded. An event recorded before its payload held every field
    (in flight during a deploy) gets its workload as it is now; None when it is gone."""
    partial = [event.subject_id for event in events if not _complete(event.payload["workload"])]
    current = workload_services.workload_snapshots(workload_ids=partial) if partial else {}
    return [
        event.payload["workload"] if _complete(event.payload["workload"]) else current.get(event.subject_id)
        for event in events
    ]


def workload_messages(events: list[OutboxEvent]) -> list[Message]:
    """The webhook messages of workload events: ``{id: "evt_<event id>", type, created_at, data:
    {workload, …}}``. Two queries (owners, zones) however many events."""
    snapshots = _snapshots(events)
    kept = [(event, snapshot) for event, snapshot in zip(events, snapshots, strict=True) if snapshot is not None]
    workloads = workload_snapshot_representations([snapshot for _, snapshot in kept])
    messages = []
    for (event, _), workload in zip(kept, workloads, strict=True):
        details = {name: event.payload[name] for name in _DETAILS if event.payload.get(name)}
        if details:
            details = dict(WebhookMessageDataSerializer(details).data)
        messages.append(
            Message(
                id=f"evt_{event.pk}",
                type=event.type,
                created_at=event.created_at,
                data={"workload": workload, **details},
            )
        )
    return messages
