"""Celery tasks of the outbox: thin wrappers around ``services`` and ``relay``."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from outbox import relay, services

TRANSIENT = (OperationalError, InterfaceError)


RETRY = {"retry_backoff": 2, "retry_backoff_max": 120, "retry_jitter": True, "max_retries": 8}


@shared_task(bind=True, autoretry_for=TRANSIENT, **RETRY)
def outbox_dispatch_batch(self, event_ids: list[int]) -> dict[str, int]:
    """Run the handlers of a chunk of events (the relay's message), in id order, each at least once
    and in its own transaction (a handled event is skipped). An event whose handler failed stays
    unhandled without holding up the others: one that met a transient database error is retried
    alone, with backoff; any other is left to the relay's sweep."""
    result = services.events_handle(event_ids=event_ids, stop_on=(SoftTimeLimitExceeded,))
    transient = [event_id for event_id, exc in result.failed.items() if isinstance(exc, TRANSIENT)]
    if transient and self.request.retries < self.max_retries:
        countdown = get_exponential_backoff_interval(
            RETRY["retry_backoff"], self.request.retries, RETRY["retry_backoff_max"], full_jitter=True
        )
        raise self.retry(args=[transient], countdown=countdown)
    return result.counts()


@shared_task(bind=True, autoretry_for=TRANSIENT, **RETRY)
def outbox_dispatch(self, event_id: int) -> str:
    """Run the handlers of one event (at least once; a handled event is skipped). Superseded by
    ``outbox_dispatch_batch``; kept for the messages a deploy finds on the queue."""
    return services.event_handle(event_id=event_id)


@shared_task
def outbox_relay() -> int:
    """Publish the events the after-commit attempt could not (periodic, ``CELERY_BEAT_SCHEDULE``)."""
    return relay.publish_pending()


@shared_task
def outbox_prune() -> int:
    """Delete handled events older than ``OUTBOX_RETENTION_DAYS`` (daily)."""
    return services.events_prune(before=timezone.now() - timedelta(days=settings.OUTBOX_RETENTION_DAYS))
