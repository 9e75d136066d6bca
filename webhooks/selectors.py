"""Reads of webhooks: who sees which endpoint is decided here, once."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from accounts.models import User
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def webhook_endpoint_list(*, fetched_by: User) -> QuerySet[WebhookEndpoint]:
    """The service role sees every endpoint, an operator their organisation's, a user none."""
    endpoints = WebhookEndpoint.objects.all()
    if fetched_by.is_service_role:
        return endpoints
    if fetched_by.is_operator and fetched_by.organization_id:
        return endpoints.filter(organization_id=fetched_by.organization_id)
    return endpoints.none()


def webhook_delivery_list(*, fetched_by: User) -> QuerySet[WebhookDelivery]:
    """Deliveries of the endpoints the caller sees, newest first, with their attempts (two queries)."""
    return (
        WebhookDelivery.objects.filter(endpoint__in=webhook_endpoint_list(fetched_by=fetched_by))
        .defer("body")
        .prefetch_related(Prefetch("attempts", queryset=WebhookAttempt.objects.order_by("attempted_at", "id")))
    )


def endpoints_subscribed(*, organization_id, event_type: str) -> list[WebhookEndpoint]:
    """The enabled endpoints of an organisation that want ``event_type`` (the fan-out)."""
    endpoints = WebhookEndpoint.objects.filter(organization_id=organization_id, enabled=True)
    return [endpoint for endpoint in endpoints if event_type in endpoint.event_types]
