"""Writes of the event log: recording events in the caller's transaction, handling them, pruning."""

from __future__ import annotations

import logging
from collections.abc import Sequence
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


@dataclass
class HandledEvents:
    """What ``events_handle`` did with each id it was given."""

    handled: list[int] = field(default_factory=list)
    duplicate: list[int] = field(default_factory=list)  # already handled: a redelivery, a republished row
    missing: list[int] = field(default_factory=list)  # pruned, or never committed
    failed: dict[int, Exception] = field(default_factory=dict)  # rolled back, still unhandled

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in ("handled", "duplicate", "missing", "failed")}


def events_handle(*, event_ids: Sequence[int], stop_on: tuple[type[BaseException], ...] = ()) -> HandledEvents:
    """Run the registered handlers of ``event_ids`` in id order, each event once: one already handled
    (a duplicate message, a republished row) is skipped. Each event's handlers and its ``handled_at``
    commit together in a transaction of their own (a savepoint inside the caller's): an event whose
    handler raises is rolled back and stays unhandled, for a retry or the relay's sweep, without undoing
    or holding up the others — except on ``stop_on`` (a task's time limit), which is raised at once.
    While an event's handlers run, the log context names the request that recorded it (a sweep's
    chunk mixes requests). Handlers are idempotent, so a run interrupted before ``handled_at`` is
    written (a killed worker) is simply run again."""
    result = HandledEvents()
    wanted = sorted(set(event_ids))
    events = {event.pk: event for event in OutboxEvent.objects.filter(pk__in=wanted)}
    for event_id in wanted:
        event = events.get(event_id)
        if event is None:
            result.missing.append(event_id)
        elif event.handled_at is not None:
            result.duplicate.append(event_id)
        else:
            failure = _event_handle(event, stop_on=stop_on)
            if failure is None:
                result.handled.append(event_id)
            else:
                result.failed[event_id] = failure
    return result


def _event_handle(event: OutboxEvent, *, stop_on: tuple[type[BaseException], ...]) -> Exception | None:
    token = context.request_id.set(event.request_id) if event.request_id else None
    try:
        with transaction.atomic():
            for handle in registry.handlers_for(event.type):
                handle(event)
            OutboxEvent.objects.filter(pk=event.pk, handled_at__isnull=True).update(handled_at=timezone.now())
    except stop_on:
        raise
    except Exception as exc:
        logger.exception("outbox: handling event %s (%s) failed; it stays pending", event.pk, event.type)
        return exc
    finally:
        if token is not None:
            context.request_id.reset(token)
    return None


def event_handle(*, event_id: int) -> str:
    """``events_handle`` for one event, raising what its handler raised; returns what happened
    (``handled``, ``duplicate``, ``missing``)."""
    result = events_handle(event_ids=[event_id])
    if event_id in result.failed:
        raise result.failed[event_id]
    return next(name for name, ids in vars(result).items() if event_id in ids)


def events_forget(*, type: str, subject_ids) -> int:
    """Delete the events of ``type`` about ``subject_ids``: a person's data erased with them (their
    notifications' copies in the log). A reader's cursor is a position, so a gap harms no one."""
    deleted, _ = OutboxEvent.objects.filter(type=type, subject_id__in=list(subject_ids)).delete()
    return deleted


def events_prune(*, before: datetime) -> int:
    """Delete handled events created before ``before`` (the retention period); returns how many."""
    deleted, _ = OutboxEvent.objects.filter(created_at__lt=before, handled_at__isnull=False).delete()
    return deleted
