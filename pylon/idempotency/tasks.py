import logging

from celery import shared_task

from pylon.idempotency import services

logger = logging.getLogger(__name__)


@shared_task
def purge_idempotency_keys() -> int:
    """Expire idempotency keys past their retention (periodic: ``CELERY_BEAT_SCHEDULE``)."""
    deleted = services.idempotency_keys_purge()
    if deleted:
        logger.info("purged %d expired idempotency key(s)", deleted)
    return deleted
