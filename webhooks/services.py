"""Writes of webhooks: endpoints (register, change, rotate the secret), deliveries and attempts.

Delivery is at least once: a delivery row is written per (message, endpoint) — the unique
``message_id`` makes a repeated fan-out a no-op — and attempted until the endpoint answers 2xx or
``RETRY_SCHEDULE`` runs out (about three days). Each attempt claims the row with a short lease, so
two workers never send it at the same time; a worker killed mid-attempt leaves a lease that expires
and the sweep (``deliveries_due_send``) sends it again.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.models import User
from pylon import background
from pylon.api.renderers import to_json
from pylon.core.exceptions import ApplicationError
from pylon.services import model_update
from webhooks import signing, targets, transport
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEventType

DELIVER_TASK = "webhooks.tasks.webhook_deliver"
#: The wait before each retry (attempt 2, 3, …), ±20 % jitter: 10 attempts over about 3 days 3 hours.
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
JITTER = 0.2
#: How long an attempt holds its delivery (longer than the 10 s the sender may take).
ATTEMPT_LEASE = timedelta(seconds=60)
SECRET_OVERLAP = timedelta(hours=24)


def _event_types(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ApplicationError("Choose at least one event type.", fields={"event_types": ["Choose at least one."]})
    unknown = sorted(set(map(str, value)) - set(WebhookEventType.values))
    if unknown:
        message = f"Unknown event type(s): {', '.join(unknown)}."
        raise ApplicationError(message, fields={"event_types": [message]})
    return sorted(set(value))


def webhook_endpoint_create(*, user: User, data: dict[str, Any]) -> WebhookEndpoint:
    """Register an endpoint for the caller's organisation (operators; its URL vetted now)."""
    if user.organization_id is None or not user.operates(user.organization_id):
        raise PermissionDenied("Only an organisation's operators may register its webhook endpoints.")
    targets.target_resolve(data["url"])
    endpoint = WebhookEndpoint(
        organization_id=user.organization_id,
        url=data["url"],
        description=data.get("description", ""),
        event_types=_event_types(data.get("event_types")),
        enabled=data.get("enabled", True),
        secret=signing.secret_generate(),
        created_by=user,
    )
    endpoint.full_clean()
    endpoint.save(force_insert=True)
    return endpoint


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, data: dict[str, Any]) -> WebhookEndpoint:
    data = dict(data)
    if "url" in data:
        targets.target_resolve(data["url"])
    if "event_types" in data:
        data["event_types"] = _event_types(data["event_types"])
    if data.get("enabled") and not endpoint.enabled:  # re-enabled: a fresh start
        data.update(disabled_reason="", failing_since=None)
    endpoint, _ = model_update(
        instance=endpoint,
        fields=["url", "description", "event_types", "enabled", "disabled_reason", "failing_since"],
        data=data,
    )
    return endpoint


def webhook_endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret; the old one keeps signing (a second signature) for 24 hours."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + SECRET_OVERLAP
    endpoint.secret = signing.secret_generate()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def _signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    keep_previous = (
        endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now
    )
    return [endpoint.secret, endpoint.previous_secret] if keep_previous else [endpoint.secret]


@dataclass(frozen=True)
class Message:
    """One message to fan out: ``id`` is its ``webhook-id`` (stable: the same event, the same id)."""

    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]

    def body(self) -> str:
        """The JSON every subscriber receives, ``{id, type, created_at, data}``, written as the API
        writes JSON (decimals as numbers, times in UTC with a ``Z``)."""
        return to_json({"id": self.id, "type": self.type, "created_at": self.created_at, "data": self.data}).decode()


#: Pairs looked up per query when checking which (endpoint, message) pairs already have a delivery.
LOOKUP_BATCH = 1000


def deliveries_create(*, endpoints: list[WebhookEndpoint], messages: list[Message]) -> list[WebhookDelivery]:
    """One delivery per endpoint and message; a pair that has one already is left alone (idempotent:
    handling an event again creates nothing). The new ones are attempted once this transaction
    commits, queued over one broker connection (the sweep sends any whose kick is lost). Returns the
    new ones (a pair a concurrent handler wrote between the lookup and the insert is skipped by the
    insert, and its kick finds nothing to do). A fixed number of queries per thousand messages,
    whatever the number of endpoints."""
    if not endpoints or not messages:
        return []
    existing: set[tuple[Any, str]] = set()
    for lo in range(0, len(messages), LOOKUP_BATCH):
        ids = [message.id for message in messages[lo : lo + LOOKUP_BATCH]]
        existing.update(
            WebhookDelivery.objects.filter(endpoint__in=endpoints, message_id__in=ids).values_list(
                "endpoint_id", "message_id"
            )
        )
    now = timezone.now()
    created = []
    for message in messages:
        body = message.body()  # once per message, whatever the number of endpoints
        created.extend(
            WebhookDelivery(
                endpoint=endpoint, message_id=message.id, event_type=message.type, body=body, next_attempt_at=now
            )
            for endpoint in endpoints
            if (endpoint.pk, message.id) not in existing
        )
    # ignore_conflicts: a concurrent handler of the same event may have written a pair since the lookup.
    WebhookDelivery.objects.bulk_create(created, batch_size=LOOKUP_BATCH, ignore_conflicts=True)
    background.enqueue_many_on_commit(DELIVER_TASK, [{"delivery_id": str(delivery.pk)} for delivery in created])
    return created


def webhook_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a ``ping`` to one endpoint (whatever it subscribes to)."""
    message = Message(
        id=f"msg_{uuid.uuid4().hex}",
        type=WebhookEventType.PING,
        created_at=timezone.now(),
        data={"endpoint": str(endpoint.pk)},
    )
    (delivery,) = deliveries_create(endpoints=[endpoint], messages=[message])
    return delivery


def webhook_delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now (same id and body; a fresh retry schedule)."""
    delivery.status = DeliveryStatus.PENDING
    delivery.attempt_count = 0
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "attempt_count", "next_attempt_at"])
    background.enqueue_on_commit(DELIVER_TASK, delivery_id=str(delivery.pk))
    return delivery


def _retry_delay(attempt_count: int) -> timedelta | None:
    """The wait after the ``attempt_count``-th failed attempt, or None when the schedule is over."""
    if attempt_count > len(RETRY_SCHEDULE):
        return None
    base = RETRY_SCHEDULE[attempt_count - 1].total_seconds()
    return timedelta(seconds=base * random.uniform(1 - JITTER, 1 + JITTER))


def webhook_delivery_attempt(*, delivery_id) -> str:
    """Make one attempt at a due delivery; returns what happened (``delivered``, ``retry``,
    ``failed``, or ``skipped`` when it is not due, not pending, or another worker holds it)."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + ATTEMPT_LEASE)
    if not claimed:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.enabled and delivery.event_type != WebhookEventType.PING:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        _attempt_log(delivery, now, transport.Outcome(None, 0, error="The endpoint is disabled."))
        return "failed"
    outcome = _send(delivery, endpoint, now=now)
    _attempt_log(delivery, now, outcome)
    delivery.attempt_count += 1
    if outcome.succeeded:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            DeliveryStatus.DELIVERED,
            timezone.now(),
            None,
        )
        result = "delivered"
    else:
        delay = _retry_delay(delivery.attempt_count)
        if delay is None:
            delivery.status, delivery.next_attempt_at, result = DeliveryStatus.FAILED, None, "failed"
        else:
            delivery.next_attempt_at, result = timezone.now() + delay, "retry"
    delivery.save(update_fields=["status", "attempt_count", "next_attempt_at", "delivered_at"])
    _endpoint_health(endpoint, succeeded=outcome.succeeded, now=now)
    return result


def _send(delivery: WebhookDelivery, endpoint: WebhookEndpoint, *, now: datetime) -> transport.Outcome:
    try:
        target = targets.target_resolve(endpoint.url)  # again at every delivery: DNS may have changed
    except targets.TargetRefused as refusal:
        return transport.Outcome(None, 0, error=refusal.message[:300])
    body = delivery.body.encode()
    headers = signing.headers(
        secrets=_signing_secrets(endpoint, now=now),
        message_id=delivery.message_id,
        timestamp=int(now.timestamp()),
        body=body,
    )
    return transport.post(target=target, headers=headers, body=body)


def _attempt_log(delivery: WebhookDelivery, at: datetime, outcome: transport.Outcome) -> None:
    WebhookAttempt.objects.create(
        delivery=delivery,
        attempted_at=at,
        status_code=outcome.status_code,
        succeeded=outcome.succeeded,
        latency_ms=outcome.latency_ms,
        response_excerpt=outcome.excerpt,
        error=outcome.error,
    )


def _endpoint_health(endpoint: WebhookEndpoint, *, succeeded: bool, now: datetime) -> None:
    """A success clears ``failing_since``; failing for ``WEBHOOK_DISABLE_AFTER_DAYS`` disables the
    endpoint and tells its organisation's operators."""
    if succeeded:
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(failing_since=None)
        return
    if endpoint.failing_since is None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
        return
    if endpoint.enabled and now - endpoint.failing_since >= timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS):
        webhook_endpoint_disable(
            endpoint=endpoint, reason=f"Every delivery failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC."
        )


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> None:
    from notifications import services as notification_services
    from notifications.models import NotificationKind

    disabled = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_reason=reason
    )
    if not disabled:
        return
    operators = User.objects.filter(organization_id=endpoint.organization_id, role="OPERATOR", is_active=True)
    for operator in operators:
        notification_services.notification_create(
            user=operator,
            kind=NotificationKind.WEBHOOK_DISABLED,
            title="A webhook endpoint was disabled"[:200],
            body=f"{endpoint.url}: {reason} Fix it and enable it again.",
        )


def deliveries_due_send(*, limit: int = 500) -> int:
    """Enqueue an attempt of every delivery whose time has come (the periodic sweep)."""
    due = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now())
    ids = [str(pk) for pk in due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit]]
    for delivery_id in ids:
        background.task_named(DELIVER_TASK).delay(delivery_id=delivery_id)
    return len(ids)
