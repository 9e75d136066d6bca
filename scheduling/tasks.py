"""Celery tasks: thin wrappers around ``services``. They take ids, are idempotent (running one twice
writes the same rows) and retry transient database errors with a bounded, jittered backoff.

A recompute after a carbon refresh is split into chunks of ``CHUNK_SIZE`` workloads, enqueued as
one group in priority order (most urgent first), so several workers share it. A short cache lock
per chunk keeps two workers from computing the same chunk at once; an overlap would be harmless
anyway, only wasted work. The lock names the task that holds it: when a worker dies mid-chunk, the
message is delivered again with the same task id, and that redelivery takes the lock over at once
instead of waiting for the dead holder's lock to expire.
"""

import hashlib
import logging
import time
from datetime import timedelta

from celery import group, shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from scheduling import metrics, recompute, selectors

logger = logging.getLogger(__name__)

CHUNK_SIZE: int = getattr(settings, "SCHEDULING_CHUNK_SIZE", 500)
#: Longer than a chunk takes (a few seconds); short enough that a dead worker's lock soon expires
#: (its own redelivery does not wait for that: see ``_lock_chunk``).
LOCK_SECONDS = 60
LOCK_BUSY_RETRY_SECONDS = 15
#: The sweep leaves alone workloads changed this recently: their own task is probably in flight.
SWEEP_GRACE = timedelta(minutes=2)

TRANSIENT = (OperationalError, InterfaceError)
RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 5,
}


def _lock_key(ids: list[str]) -> str:
    digest = hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:32]
    return f"scheduling:chunk:{digest}"


def _lock_chunk(key: str, *, holder: str) -> bool:
    """Take the chunk's lock for ``holder`` (a task id). A lock already held by the same task id is
    a dead run of this very message (redelivered after its worker was killed): take it over."""
    if cache.add(key, holder, timeout=LOCK_SECONDS):
        return True
    if holder != "local" and cache.get(key) == holder:
        cache.set(key, holder, timeout=LOCK_SECONDS)
        return True
    return False


@shared_task(bind=True, **RETRY)
def recommend_workloads(self, workload_ids: list[str]) -> dict:
    """Recompute the recommendations of these workloads (those still PENDING)."""
    ids = sorted({str(pk) for pk in workload_ids})
    if not ids:
        return {"computed": 0, "skipped": 0}
    key = _lock_key(ids)
    if not _lock_chunk(key, holder=self.request.id or "local"):
        # Another worker computes this very chunk now; come back once it is done.
        raise self.retry(countdown=LOCK_BUSY_RETRY_SECONDS, max_retries=20)
    started = time.perf_counter()
    try:
        report = recompute.recommendations_compute(workload_ids=ids)
    finally:
        cache.delete(key)
    metrics.observe_run(seconds=time.perf_counter() - started, considered=len(ids), report=report)
    return {
        "computed": report.computed,
        "skipped": report.skipped,
        "unschedulable": report.unschedulable,
        "auto_assigned": len(report.auto_assigned),
    }


def chunks_enqueue(ids: list) -> int:
    """Enqueue ``ids`` (in the order given) as one group of chunk tasks; returns the number of chunks."""
    chunks = [[str(pk) for pk in ids[lo : lo + CHUNK_SIZE]] for lo in range(0, len(ids), CHUNK_SIZE)]
    if chunks:
        group(recommend_workloads.s(chunk) for chunk in chunks).apply_async()
    return len(chunks)


@shared_task(bind=True, **RETRY)
def recompute_pending(self, organization_id: str | None = None) -> int:
    """Recompute every PENDING workload (of one organisation, when given), in chunks."""
    return chunks_enqueue(selectors.pending_ids_in_priority_order(organization_id=organization_id))


@shared_task(bind=True, **RETRY)
def sweep_unrecommended(self) -> int:
    """Catch PENDING workloads never computed, or not since their last change (the broker was down
    at submission, a worker died). Periodic (``CELERY_BEAT_SCHEDULE``)."""
    ids = selectors.pending_ids_needing_recommendations(changed_before=timezone.now() - SWEEP_GRACE)
    if ids:
        logger.info("sweep: %d PENDING workload(s) without current recommendations", len(ids))
    return chunks_enqueue(ids)
