"""Celery tasks of the outbox: thin wrappers around ``services`` and ``relay``."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from outbox import relay, services

TRANSIENT = (OperationalError, InterfaceError)


@shared_task(
    bind=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=8,
)
def outbox_dispatch(self, event_id: int) -> str:
    """Run the handlers of one event (at least once; a handled event is skipped)."""
    return services.event_handle(event_id=event_id)


@shared_task
def outbox_relay() -> int:
    """Publish the events the after-commit attempt could not (periodic, ``CELERY_BEAT_SCHEDULE``)."""
    return relay.publish_pending()


@shared_task
def outbox_prune() -> int:
    """Delete handled events older than ``OUTBOX_RETENTION_DAYS`` (daily)."""
    return services.events_prune(before=timezone.now() - timedelta(days=settings.OUTBOX_RETENTION_DAYS))
