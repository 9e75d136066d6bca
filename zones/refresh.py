"""The carbon-intensity refresh: fetch every live provider's 48-hour forecast, upsert the readings,
update the zones' current figures and announce the new data. Run by ``zones.tasks`` (Celery beat)
and ``manage.py refresh_carbon_intensity``."""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from zones.models import LIVE_SOURCES, CarbonSource, GridZone
from zones.providers import (
    CarbonIntensityProvider,
    ElectricityMapsProvider,
    IntensityReading,
    NesoProvider,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    WattTimeProvider,
)
from zones.providers.base import HALF_HOUR, floor_half_hour
from zones.services import readings_announce, readings_upsert, zone_figures_update

logger = logging.getLogger(__name__)

#: The forecast horizon fetched on each refresh (NESO's maximum).
REFRESH_HOURS = 48


def provider_client(source: str) -> CarbonIntensityProvider:
    """The HTTP client of a live source, configured from settings (base URLs, tokens, timeout)."""
    read_timeout = float(settings.CARBON_PROVIDER_TIMEOUT_SECONDS)
    timeout = (min(3.05, read_timeout), read_timeout)
    if source == CarbonSource.NESO:
        return NesoProvider(settings.NESO_API_BASE_URL, timeout=timeout)
    if source == CarbonSource.ELECTRICITY_MAPS:
        return ElectricityMapsProvider(
            settings.ELECTRICITYMAPS_API_TOKEN, settings.ELECTRICITYMAPS_API_BASE_URL, timeout=timeout
        )
    if source == CarbonSource.WATTTIME:
        return WattTimeProvider(
            settings.WATTTIME_USERNAME, settings.WATTTIME_PASSWORD, settings.WATTTIME_API_BASE_URL, timeout=timeout
        )
    raise ValueError(f"{source!r} is not a live carbon-intensity source")


@dataclass
class ProviderRefresh:
    """What one provider's refresh did. ``status``: ``ok``, ``partial`` (some zones failed), ``failed``
    (nothing fetched) or ``locked`` (another refresh of this provider was running: nothing done)."""

    provider: str
    status: str = "ok"
    zones: int = 0
    readings: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    zones_updated: int = 0
    attempts: int = 0
    transient: bool = False  # the failure may go away: worth a later retry
    errors: dict[str, str] = field(default_factory=dict)  # zone code (or "*": every zone) -> reason


@dataclass
class RefreshSummary:
    providers: list[ProviderRefresh] = field(default_factory=list)

    @property
    def transient_failures(self) -> list[str]:
        return [p.provider for p in self.providers if p.transient]

    def as_dict(self) -> dict[str, Any]:
        return {"providers": [asdict(p) for p in self.providers]}


T = TypeVar("T")


def _with_retries(call: Callable[[], T], *, attempts: int, backoff: float, sleep: Callable[[float], None]) -> T:
    """``call()``, retried on TransientProviderError up to ``attempts`` times with exponential backoff
    (``backoff``, 2×, 4× … seconds). Permanent errors and the last transient one propagate."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TransientProviderError as exc:
            if attempt == attempts:
                raise
            delay = backoff * 2 ** (attempt - 1)
            logger.info("carbon refresh: %s; attempt %d of %d, retrying in %.1fs", exc, attempt, attempts, delay)
            sleep(delay)
    raise AssertionError("unreachable")


def carbon_refresh(
    *,
    provider: str | None = None,
    zone_ids: Sequence[UUID | str] | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RefreshSummary:
    """Fetch the 48-hour forecast of every zone of ``provider`` (each live provider if None), upsert the
    readings, update the zones' current figures and record ``zone.forecasts_updated`` in the outbox.

    Retries: the service itself retries transient errors (network, timeouts, 5xx, empty bodies) a few
    times with a short backoff (``CARBON_REFRESH_ATTEMPTS``, ``CARBON_REFRESH_BACKOFF_SECONDS``): that
    bounds the time a refresh can hold an eager (in-process) caller such as a web request or
    ``manage.py``. If the provider is still failing it gives up for now and reports ``transient``; the
    Celery task then retries later with exponential backoff (minutes), which only a broker can do
    without blocking anyone. Giving up leaves the stored data in place; the zones go stale by age.

    A permanent error of a multi-zone call (e.g. a region missing from the response) is retried one
    zone key at a time, so one bad zone is reported on its own and does not block the others.

    Concurrency: a cache lock per provider (``cache.add``, Redis in production) lets one refresh of a
    provider run at a time; a second one returns ``locked`` at once. The upsert is idempotent anyway,
    so an overlap (an expired lock) is harmless.
    """
    now = now or timezone.now()
    summary = RefreshSummary()
    for source in LIVE_SOURCES:
        if provider is not None and source != provider:
            continue
        zones = GridZone.objects.filter(carbon_provider=source).order_by("grid_zone_code")
        if zone_ids is not None:
            zones = zones.filter(pk__in=list(zone_ids))
        zones = list(zones)
        if not zones:
            continue
        summary.providers.append(_refresh_locked(source, zones, now, sleep))
    return summary


def _refresh_locked(source: str, zones: list[GridZone], now: datetime, sleep) -> ProviderRefresh:
    key, token = f"zones:carbon-refresh:{source}", uuid.uuid4().hex
    if not cache.add(key, token, timeout=settings.CARBON_REFRESH_LOCK_SECONDS):
        logger.info("carbon refresh of %s skipped: another refresh holds the lock", source)
        return ProviderRefresh(provider=source, status="locked", zones=len(zones))
    try:
        return _refresh_provider(source, zones, now, sleep)
    finally:
        if cache.get(key) == token:  # never release a lock that expired and was taken by another run
            cache.delete(key)


def _refresh_provider(source: str, zones: list[GridZone], now: datetime, sleep) -> ProviderRefresh:
    result = ProviderRefresh(provider=source, zones=len(zones))
    by_key: dict[str, list[GridZone]] = defaultdict(list)
    for zone in zones:
        if zone.provider_key is None:
            result.errors[zone.grid_zone_code] = "the zone has no key at its provider"
        else:
            by_key[zone.provider_key].append(zone)
    attempts = max(1, settings.CARBON_REFRESH_ATTEMPTS)
    backoff = settings.CARBON_REFRESH_BACKOFF_SECONDS
    # One slot back: NESO's `{from}/fw48h` may begin with the period *after* `from`; asking from the
    # previous half hour makes sure the current one (the zone's current figure) is in the answer.
    start = floor_half_hour(now) - HALF_HOUR
    readings: list[IntensityReading] = []
    if by_key:
        client = provider_client(source)

        def fetch(keys: list[str]) -> list[IntensityReading]:
            def call() -> list[IntensityReading]:
                result.attempts += 1
                return client.fetch_forecast(keys, start, REFRESH_HOURS)

            return _with_retries(call, attempts=attempts, backoff=backoff, sleep=sleep)

        keys = sorted(by_key)
        try:
            readings = fetch(keys)
        except PermanentProviderError as exc:
            if len(keys) == 1:
                _record_error(result, by_key[keys[0]], exc)
            else:
                logger.warning("carbon refresh of %s: %s; fetching zone by zone", source, exc)
                for key in keys:
                    try:
                        readings += fetch([key])
                    except ProviderError as key_exc:
                        _record_error(result, by_key[key], key_exc)
        except TransientProviderError as exc:
            result.transient = True
            result.errors["*"] = str(exc)
    pairs = [(zone.pk, reading) for reading in readings for zone in by_key.get(reading.zone_key, ())]
    with transaction.atomic():
        counts = readings_upsert(readings=pairs, source=source, fetched_at=timezone.now())
        updated = zone_figures_update(zone_ids=[zone.pk for zone in zones], now=now) if pairs else []
        readings_announce(zone_id for zone_id, _ in pairs)
    result.readings = len(pairs)
    result.inserted, result.updated, result.unchanged = counts.inserted, counts.updated, counts.unchanged
    result.zones_updated = len(updated)
    fetched_zones = {zone_id for zone_id, _ in pairs}
    for zone in zones:
        if zone.pk not in fetched_zones and zone.grid_zone_code not in result.errors and "*" not in result.errors:
            result.errors[zone.grid_zone_code] = "no readings in the response"
    if result.errors:
        result.status = "partial" if pairs else "failed"
        logger.warning("carbon refresh of %s %s: %s", source, result.status, result.errors)
    return result


def _record_error(result: ProviderRefresh, zones: list[GridZone], exc: ProviderError) -> None:
    if isinstance(exc, TransientProviderError):
        result.transient = True
    for zone in zones:
        result.errors[zone.grid_zone_code] = str(exc)
