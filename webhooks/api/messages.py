"""The messages Pylon POSTs to webhook endpoints, as serializers: the schema documents them (an
OpenAPI callback of ``webhooks_endpoints_create``) so that generated SDKs get their types."""

from drf_spectacular.utils import OpenApiCallback, OpenApiResponse, extend_schema
from rest_framework import serializers

from webhooks.models import WebhookEventType
from workloads.models import Urgency, WorkloadStatus, WorkloadType


class WebhookWorkloadSnapshotSerializer(serializers.Serializer):
    """The workload as of the event. Lifecycle events carry every field; `workload.recommended` and
    `workload.unschedulable` carry `id`, `job_id`, `workload_name` and `user`."""

    id = serializers.UUIDField()
    job_id = serializers.CharField()
    workload_name = serializers.CharField()
    user = serializers.UUIDField(help_text="The owner's id.")
    status = serializers.ChoiceField(choices=WorkloadStatus.choices, required=False)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)
    workload_type = serializers.ChoiceField(choices=WorkloadType.choices, required=False)
    host_dc = serializers.UUIDField(required=False, allow_null=True, help_text="The preferred zone's id.")
    chosen_grid_zone = serializers.UUIDField(required=False, allow_null=True, help_text="The assigned zone's id.")
    planned_start = serializers.DateTimeField(required=False, allow_null=True)
    actual_start = serializers.DateTimeField(required=False, allow_null=True)
    actual_end = serializers.DateTimeField(required=False, allow_null=True)
    deadline = serializers.DateTimeField(required=False, allow_null=True)
    carbon_emitted_kg = serializers.DecimalField(max_digits=14, decimal_places=4, required=False, allow_null=True)
    cost_gbp = serializers.DecimalField(max_digits=14, decimal_places=4, required=False, allow_null=True)


class WebhookRecommendationSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    zone = serializers.UUIDField(help_text="The zone's id.")
    start = serializers.DateTimeField()
    expected_emissions_kg = serializers.DecimalField(max_digits=14, decimal_places=4)
    expected_cost_gbp = serializers.DecimalField(max_digits=14, decimal_places=4)


class WebhookMessageDataSerializer(serializers.Serializer):
    workload = WebhookWorkloadSnapshotSerializer(required=False, help_text="Every `workload.*` message.")
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
