"""Celery tasks of the workloads app: thin wrappers around ``workloads.capacity``."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from workloads import overbooking

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_jitter=True,
    max_retries=3,
)
def capacity_holds_roll(self) -> int:
    """Bring the ledger's moving holds (late starts, runs past their estimate) up to now, so that
    what it says between assignments is true too. Periodic (``CELERY_BEAT_SCHEDULE``). Returns the
    number of (zone, half hour, resource) cells over capacity from now on, each logged; the operators
    of the work held there are told once (``workloads.overbooking``): they have work to move."""
    over = overbooking.overbooking_roll(now=timezone.now())
    for zone_id, slot_start, resource, held, limit in over:
        logger.warning(
            "capacity: zone %s holds %.2f %s at %s, over its %.2f (a late start, an overrun or an override)",
            zone_id,
            held,
            resource,
            slot_start.isoformat(),
            limit,
        )
    return len(over)
