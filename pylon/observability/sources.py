"""The project-level scrape-time sources: Celery queue depth (Redis list lengths) and the outbox."""

from __future__ import annotations

from collections.abc import Iterable

from django.apps import apps
from django.conf import settings
from django.utils import timezone
from prometheus_client.core import Metric

from pylon.observability.collectors import gauge


def celery_queues() -> Iterable[Metric]:
    """Messages waiting in each Celery queue and delivered but unacknowledged, read from the Redis
    broker with the cache's bounded socket timeouts (a frozen broker fails this source, not the scrape)."""
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return []
    import redis

    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL,
        socket_connect_timeout=settings.CACHE_SOCKET_TIMEOUT_SECONDS,
        socket_timeout=settings.CACHE_SOCKET_TIMEOUT_SECONDS,
    )
    try:
        queues = sorted(set(settings.CELERY_METRICS_QUEUES))
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            pipe.llen(queue)
        pipe.hlen("unacked")
        *lengths, unacked = pipe.execute()
    finally:
        client.close()
    waiting = gauge("pylon_celery_queue_length", "Messages waiting in a Celery queue (Redis list length).", ["queue"])
    for queue, length in zip(queues, lengths, strict=True):
        waiting.add_metric([queue], length)
    in_flight = gauge("pylon_celery_unacked_messages", "Messages delivered to a worker and not yet acknowledged.")
    in_flight.add_metric([], unacked)
    return [waiting, in_flight]


def outbox() -> Iterable[Metric]:
    """Events not yet handled and the age of the oldest: a growing backlog means the relay or the
    broker is stuck. Reads the outbox app's selector once that app is installed."""
    if not apps.is_installed("outbox"):
        return []
    from outbox.selectors import outbox_backlog

    backlog = outbox_backlog()
    pending = gauge("pylon_outbox_pending_events", "Outbox events not yet handled.")
    pending.add_metric([], backlog["pending"])
    age = gauge("pylon_outbox_oldest_pending_age_seconds", "Age of the oldest unhandled outbox event (0: none).")
    oldest = backlog["oldest_created_at"]
    age.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0.0)
    return [pending, age]
