"""Writes of the event log: recording events in the caller's transaction, handling them, pruning."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from outbox import registry, relay, wake
from outbox.models import EventType, OutboxEvent
from pylon.observability import context

logger = logging.getLogger(__name__)

#: The PostgreSQL advisory lock that orders the log ("outbox" in ASCII).
ORDER_LOCK_KEY = 0x6F7574626F78


@dataclass(frozen=True)
class NewEvent:
    """An event to record: its type, whose it is, what it is about, who caused it, and its data."""

    type: str
    organization_id: Any = None
    subject_id: Any = None
    actor_id: Any = None
    payload: dict[str, Any] = field(default_factory=dict)


def _hold_order_lock() -> None:
    """Serialise the writers of the log from their first event to their commit, so that ids are
    allocated in commit order and a reader going by id never skips a row committed late.

    PostgreSQL: a transaction-level advisory lock (released by the commit or rollback). SQLite
    serialises every writer of the database anyway. Callers record events as the last writes of
    their transaction: a transaction holding this lock must not then wait for a row lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ORDER_LOCK_KEY])


def events_record(*, events: list[NewEvent]) -> list[OutboxEvent]:
    """Append ``events`` to the log in the current transaction; they are published once it commits
    (nothing is published for a transaction that rolls back). Events no handler wants are marked
    handled at once and never reach the broker."""
    if not events:
        return []
    unknown = {event.type for event in events} - set(EventType.values)
    if unknown:
        raise ValueError(f"unknown event type(s): {', '.join(sorted(unknown))}")
    now = timezone.now()
    request_id = context.request_id.get() or ""
    rows = [
        OutboxEvent(
            type=event.type,
            organization_id=event.organization_id,
            subject_id=event.subject_id,
            actor_id=event.actor_id,
            payload=event.payload,
            request_id=request_id,
            created_at=now,
            handled_at=None if registry.has_handlers(event.type) else now,
            published_at=None if registry.has_handlers(event.type) else now,
        )
        for event in events
    ]
    with transaction.atomic(savepoint=False):  # the caller's transaction, or one of its own
        _hold_order_lock()
        OutboxEvent.objects.bulk_create(rows, batch_size=1000)
    relay.publish_after_commit([row.pk for row in rows if row.handled_at is None], request_id=request_id)
    wake.nudge_after_commit(rows)
    return rows


def event_record(
    *, type: str, organization_id=None, subject_id=None, actor=None, payload: dict[str, Any] | None = None
) -> OutboxEvent:
    """Record one event in the current transaction (see ``events_record``)."""
    (event,) = events_record(
        events=[
            NewEvent(
                type=type,
                organization_id=organization_id,
                subject_id=subject_id,
                actor_id=getattr(actor, "pk", actor),
                payload=payload or {},
            )
        ]
    )
    return event


def event_handle(*, event_id: int) -> str:
    """Run the registered handlers of one event, once: an event already handled (a duplicate
    message, a republished row) is skipped. Handlers are idempotent, so a run interrupted before
    ``handled_at`` is written (a killed worker) is simply run again. Returns what happened."""
    event = OutboxEvent.objects.filter(pk=event_id).first()
    if event is None:
        return "missing"
    if event.handled_at is not None:
        return "duplicate"
    for handle in registry.handlers_for(event.type):
        handle(event)
    OutboxEvent.objects.filter(pk=event.pk, handled_at__isnull=True).update(handled_at=timezone.now())
    return "handled"


def events_forget(*, type: str, subject_ids) -> int:
    """Delete the events of ``type`` about ``subject_ids``: a person's data erased with them (their
    notifications' copies in the log). A reader's cursor is a position, so a gap harms no one."""
    deleted, _ = OutboxEvent.objects.filter(type=type, subject_id__in=list(subject_ids)).delete()
    return deleted


def events_prune(*, before: datetime) -> int:
    """Delete handled events created before ``before`` (the retention period); returns how many."""
    deleted, _ = OutboxEvent.objects.filter(created_at__lt=before, handled_at__isnull=False).delete()
    return deleted
