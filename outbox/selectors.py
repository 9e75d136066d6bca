"""Reads of the event log."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q, QuerySet

from outbox.models import OutboxEvent


def events_after(
    *,
    after_id: int = 0,
    organization_id=None,
    subject_id=None,
    types: Iterable[str] | None = None,
    limit: int = 100,
) -> list[OutboxEvent]:
    """The events with an id above ``after_id``, oldest first, at most ``limit``: how a consumer
    (a live stream resuming from ``Last-Event-ID``, a webhook fan-out) reads on from its cursor.
    Narrowed to one organisation, subject or set of types when given. Visibility to a person is the
    caller's to decide (issue 13's stream scopes through the workloads selector)."""
    events = OutboxEvent.objects.filter(id__gt=after_id)
    if organization_id is not None:
        events = events.filter(organization_id=organization_id)
    if subject_id is not None:
        events = events.filter(subject_id=subject_id)
    if types is not None:
        events = events.filter(type__in=[str(t) for t in types])
    return list(events.order_by("id")[:limit])


def event_log_head() -> int:
    """The id of the newest committed event (0 for an empty log): every smaller id is committed
    too (or rolled back), so a reader that has scanned up to it has missed nothing."""
    return OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _batch_rest(event: OutboxEvent) -> QuerySet[OutboxEvent] | None:
    batch = event.payload.get("batch")
    if not batch:
        return None
    if int(batch["index"]) != 0:
        raise ValueError(f"event {event.id} is not the first of its batch")
    return OutboxEvent.objects.filter(type=event.type, id__gte=event.id, payload__batch__id=batch["id"]).order_by("id")


def event_batch(*, event: OutboxEvent) -> list[OutboxEvent]:
    """The events recorded in one ``events_record`` call with ``event`` as a batch (``payload["batch"]``:
    ``id``, ``index``, ``size``), in the batch's order; ``event`` must be the batch's first (``index``
    0: recorded first, so the lowest id). Just ``[event]`` when it is not part of a batch."""
    events = _batch_rest(event)
    return [event] if events is None else list(events[: int(event.payload["batch"]["size"])])


def event_batch_subject_ids(*, event: OutboxEvent) -> list:
    """The subjects of ``event_batch(event=event)``, read without their payloads."""
    events = _batch_rest(event)
    if events is None:
        return [event.subject_id]
    return list(events.values_list("subject_id", flat=True)[: int(event.payload["batch"]["size"])])


def events_unhandled(*, created_before: datetime, published_before: datetime) -> QuerySet[OutboxEvent]:
    """What the relay's drain (re)publishes: events never published (the broker was down at commit)
    and events published long ago but never handled (a message lost with the broker's data)."""
    return (
        OutboxEvent.objects.filter(handled_at__isnull=True, created_at__lte=created_before)
        .filter(Q(published_at__isnull=True) | Q(published_at__lt=published_before))
        .order_by("id")
    )


def events_pending() -> QuerySet[OutboxEvent]:
    """Events not handled yet: each may still be delivered to its handlers (again)."""
    return OutboxEvent.objects.filter(handled_at__isnull=True)


def outbox_backlog() -> dict:
    """How many events wait for their handlers and how old the oldest is (for health and metrics)."""
    first = events_pending().order_by("id").values_list("created_at", flat=True).first()
    return {"pending": events_pending().count(), "oldest_created_at": first}
