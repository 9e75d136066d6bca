"""Celery tasks of webhooks: thin wrappers around ``services``."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from webhooks import services


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=2, retry_jitter=True, max_retries=5)
def webhook_deliver(delivery_id: str) -> str:
    """One attempt at one delivery (the retry schedule is the delivery row's, not Celery's)."""
    return services.webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task
def webhooks_send_due() -> int:
    """Enqueue the deliveries whose next attempt is due (periodic, ``CELERY_BEAT_SCHEDULE``)."""
    return services.deliveries_due_send()
