"""Celery tasks of the zones app: thin wrappers around ``zones.refresh`` that take plain values."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from zones import refresh
from zones.models import LIVE_SOURCES, GridZone
from zones.providers import TransientProviderError

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    autoretry_for=(TransientProviderError,),
    retry_backoff=60,  # 1, 2, 4, 8 minutes (with jitter) ...
    retry_backoff_max=15 * 60,
    retry_jitter=True,
    max_retries=4,
)
def refresh_carbon_intensity(self, provider: str | None = None, zone_ids: list[str] | None = None) -> dict[str, Any]:
    """Refresh the carbon-intensity forecast of the zones of ``provider`` (every live provider if None),
    optionally only ``zone_ids``. Scheduled every 30 minutes by Celery beat.

    With a broker, a run for every provider fans out into one task per provider, so each is retried on
    its own. The service retries transient errors briefly in-process; when a provider still fails
    transiently this task raises TransientProviderError and ``autoretry_for`` retries it with
    exponential backoff, up to ``max_retries``. After the last retry it gives up: it logs and returns
    the summary, leaving the stored data in place (the zones go stale by age). Run eagerly (no broker)
    it never waits for a Celery retry. Errors of single zones (unknown region, no key) are reported in
    the summary and do not fail the task.
    """
    if provider is None and not self.request.is_eager:
        providers = sorted(
            set(GridZone.objects.filter(carbon_provider__in=LIVE_SOURCES).values_list("carbon_provider", flat=True))
        )
        for name in providers:
            refresh_carbon_intensity.delay(provider=name, zone_ids=zone_ids)
        return {"fanned_out": providers}

    summary = refresh.carbon_refresh(provider=provider, zone_ids=zone_ids)
    failing = summary.transient_failures
    if failing and not self.request.is_eager and self.request.retries < self.max_retries:
        raise TransientProviderError(f"carbon refresh of {', '.join(failing)} failed; retrying later")
    if failing:
        logger.error(
            "carbon refresh of %s gave up after %d retries; the stored data stays and goes stale",
            ", ".join(failing),
            self.request.retries,
        )
    return summary.as_dict()
