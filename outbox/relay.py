"""The relay: publishes committed events to the Celery broker, never holding a request for long.

After a transaction that recorded events commits, ``publish_after_commit`` makes one bounded
attempt: a connection of its own with connect and send timeouts of ``OUTBOX_PUBLISH_TIMEOUT_SECONDS``
and no publish retry. When that fails (the broker is down or frozen) the events stay unpublished and
this process stops trying for ``OUTBOX_PUBLISH_BACKOFF_SECONDS``, so later requests pay nothing;
``publish_pending`` (the ``outbox_relay`` beat task and management command) publishes them later.
A message names a chunk of at most ``OUTBOX_DISPATCH_BATCH`` event ids, in id order (a 5,000-row
upload is ten messages, not 5,000); the task skips an event already handled, so a row published twice
does no double work. Handlers' and their tasks' log lines name the request that recorded the event:
the task sets it from the event's row while handling that event; a chunk whose events share one
request (a transaction's) also carries it in the ``pylon_request_id`` header, for the task's own lines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from outbox import selectors
from outbox.models import OutboxEvent
from pylon import background
from pylon.celery import app
from pylon.observability.celery import REQUEST_ID_HEADER

logger = logging.getLogger(__name__)

#: The task a published chunk of events becomes (``outbox.tasks``, found by name: it imports this module).
DISPATCH_TASK = "outbox.tasks.outbox_dispatch_batch"

_breaker = threading.Lock()
_paused_until = 0.0


def _paused() -> bool:
    return time.monotonic() < _paused_until


def _pause() -> None:
    global _paused_until
    with _breaker:
        _paused_until = time.monotonic() + float(settings.OUTBOX_PUBLISH_BACKOFF_SECONDS)


def reset() -> None:
    """Forget an earlier failure (tests; a process that knows the broker is back)."""
    global _paused_until
    with _breaker:
        _paused_until = 0.0


def publish_after_commit(event_ids: Sequence[int], *, request_id: str = "") -> None:
    if event_ids:
        ids = list(event_ids)
        request_ids = dict.fromkeys(ids, request_id) if request_id else None
        transaction.on_commit(lambda: publish(event_ids=ids, request_ids=request_ids), robust=True)


def _headers(request_id: str | None) -> dict[str, str] | None:
    return {REQUEST_ID_HEADER: request_id} if request_id else None


def _chunks(event_ids: Sequence[int], request_ids: Mapping[int, str]) -> list[tuple[list[int], str]]:
    """``event_ids`` in id order, in chunks of ``OUTBOX_DISPATCH_BATCH``, each with the request id its
    events share ("" when they have none or several: the sweep's chunks mix requests)."""
    ids, size = sorted(event_ids), max(1, int(settings.OUTBOX_DISPATCH_BATCH))
    chunks = []
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        shared = {request_ids.get(event_id, "") for event_id in chunk}
        chunks.append((chunk, shared.pop() if len(shared) == 1 else ""))
    return chunks


def _send(event_ids: Sequence[int], request_ids: Mapping[int, str]) -> None:
    """Hand the events to Celery, a message a chunk: in-process when eager, else over one bounded
    broker connection."""
    outbox_dispatch_batch = background.task_named(DISPATCH_TASK)
    chunks = _chunks(event_ids, request_ids)
    if app.conf.task_always_eager:
        for chunk, request_id in chunks:
            try:
                outbox_dispatch_batch.apply_async(args=[chunk], headers=_headers(request_id))
            except Exception:  # eager: what the task could not handle stays pending for the drain
                logger.exception("outbox: handling events %s..%s failed; they stay pending", chunk[0], chunk[-1])
        return
    with background.bounded_broker_connection(timeout=float(settings.OUTBOX_PUBLISH_TIMEOUT_SECONDS)) as conn:
        for chunk, request_id in chunks:
            outbox_dispatch_batch.apply_async(args=[chunk], connection=conn, retry=False, headers=_headers(request_id))


def publish(
    *, event_ids: Sequence[int], request_ids: Mapping[int, str] | None = None, respect_pause: bool = True
) -> bool:
    """One bounded attempt to publish ``event_ids``; True when the broker took them all.
    ``request_ids``: the request id each event was recorded under (by event id), carried in its message."""
    if not event_ids:
        return True
    if respect_pause and _paused():
        return False
    events = OutboxEvent.objects.filter(pk__in=event_ids)
    try:
        _send(event_ids, request_ids or {})
    except Exception as exc:  # any broker failure: the rows stay, the drain publishes them later
        _pause()
        logger.warning("outbox: publishing %d event(s) failed (%s); the relay will retry", len(event_ids), exc)
        try:
            events.update(publish_attempts=F("publish_attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:500])
        except Exception:  # the database may be what failed; the drain still finds the rows
            logger.warning("outbox: could not note the failed publish", exc_info=True)
        return False
    reset()
    events.update(published_at=timezone.now(), publish_attempts=F("publish_attempts") + 1, last_error="")
    return True


def publish_pending(*, batch_size: int = 500) -> int:
    """Publish what ``publish_after_commit`` could not (and what was published long ago but never
    handled). Rows are locked while being published, so two drains never publish the same row.
    Returns the number published; stops at the first failure (the broker is still away)."""
    now = timezone.now()
    published = 0
    while True:
        with transaction.atomic():
            pending = selectors.events_unhandled(
                created_before=now - timedelta(seconds=float(settings.OUTBOX_RELAY_GRACE_SECONDS)),
                published_before=now - timedelta(seconds=float(settings.OUTBOX_REDELIVER_AFTER_SECONDS)),
            )
            request_ids = dict(pending.select_for_update(skip_locked=True).values_list("id", "request_id")[:batch_size])
            ids = list(request_ids)
            if not ids or not publish(event_ids=ids, request_ids=request_ids, respect_pause=False):
                return published
        published += len(ids)
        if len(ids) < batch_size:
            return published
