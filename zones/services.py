"""Writes for grid zones and their carbon-intensity data.

Zones are written by staff (the API and the admin both come through here). Readings are written by
the refresh (``carbon_refresh``, run by Celery beat and ``manage.py refresh_carbon_intensity``), the
file import (``intensity_import``, ``manage.py import_intensity``) and the demo seeding, all through
``readings_upsert``.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from pylon.services import model_update
from zones import selectors
from zones.models import (
    LIVE_SOURCES,
    MAX_INTENSITY,
    MAX_PRICE,
    CarbonSource,
    GridZone,
    IntensityIndex,
    ZoneIntensityReading,
    ZonePriceReading,
)
from zones.providers import (
    CarbonIntensityProvider,
    CsvFormat,
    CsvFormatError,
    ElectricityMapsProvider,
    IntensityReading,
    NesoProvider,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    WattTimeProvider,
    parse_csv,
)
from zones.providers.base import HALF_HOUR, floor_half_hour
from zones.providers.neso import NATIONAL_ZONE_KEY
from zones.signals import carbon_data_refreshed

logger = logging.getLogger(__name__)

ZONE_WRITABLE_FIELDS = [
    "zone_id",
    "zone_name",
    "grid_zone_code",
    "region",
    "country",
    "latitude",
    "longitude",
    "carbon_intensity",
    "energy_price",
    "neso_region_id",
    "carbon_provider",
    "provider_zone_key",
    "gpu_capacity",
    "cpu_core_capacity",
    "memory_gb_capacity",
]

FIGURE_FIELDS = ("carbon_intensity", "energy_price")
#: A change of these fields means the zone's data must be fetched again (from elsewhere).
PROVIDER_FIELDS = ("carbon_provider", "provider_zone_key", "neso_region_id")
#: The forecast horizon fetched on each refresh (NESO's maximum).
REFRESH_HOURS = 48
_BATCH = 1000


# -- zones -----------------------------------------------------------------------------------------


def zone_create(**data) -> GridZone:
    zone = GridZone(**{name: data[name] for name in ZONE_WRITABLE_FIELDS if name in data})
    zone.figures_updated_at = timezone.now()
    zone.full_clean()
    zone.save()
    _refresh_after_commit(zone)
    return zone


def zone_update(*, zone: GridZone, data: dict) -> GridZone:
    figures_change = any(name in data and getattr(zone, name) != data[name] for name in FIGURE_FIELDS)
    provider_change = any(name in data and getattr(zone, name) != data[name] for name in PROVIDER_FIELDS)
    if figures_change:
        data = {**data, "figures_updated_at": timezone.now()}
    zone, _ = model_update(instance=zone, fields=[*ZONE_WRITABLE_FIELDS, "figures_updated_at"], data=data)
    if provider_change:
        _refresh_after_commit(zone)
    return zone


def _refresh_after_commit(zone: GridZone) -> None:
    """Fetch a new or re-keyed zone's forecast once the zone is committed (the task takes ids)."""
    if zone.carbon_provider not in LIVE_SOURCES:
        return
    from zones.tasks import refresh_carbon_intensity  # tasks import this module

    provider, zone_ids = str(zone.carbon_provider), [str(zone.pk)]
    # robust: a broker outage must not turn the committed change into a 500; the beat refresh catches up.
    transaction.on_commit(lambda: refresh_carbon_intensity.delay(provider=provider, zone_ids=zone_ids), robust=True)


# -- upserting readings ----------------------------------------------------------------------------


@dataclass
class UpsertCounts:
    """Rows written by one upsert. ``unchanged`` rows were rewritten only to record the new fetch time."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[str] = field(default_factory=list)

    def __iadd__(self, other: UpsertCounts) -> UpsertCounts:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        return self


def _valid_intensity(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and 0 <= value <= MAX_INTENSITY)


def readings_upsert(
    *, readings: Iterable[tuple[UUID, IntensityReading]], source: str, fetched_at: datetime
) -> UpsertCounts:
    """Insert or update ``(zone id, reading)`` pairs as ``source``'s readings, fetched at ``fetched_at``.

    Keyed on (zone, period start, source): a newer fetch updates the row, never duplicates it. A value
    the new fetch lacks keeps the stored one (a forecast-only fetch does not erase a known actual).
    Within one call the last reading of a key wins. Two queries plus one bulk statement per thousand
    rows, whatever the number of zones and periods; safe to run concurrently (``ON CONFLICT DO UPDATE``).
    """
    counts = UpsertCounts()
    latest: dict[tuple[UUID, datetime], IntensityReading] = {}
    for zone_id, reading in readings:
        if not (_valid_intensity(reading.forecast) and _valid_intensity(reading.actual)):
            counts.rejected.append(f"{reading.zone_key} {reading.period_start:%Y-%m-%dT%H:%MZ}: value out of range")
            continue
        latest[(zone_id, reading.period_start)] = reading
    if not latest:
        return counts
    existing = _existing(ZoneIntensityReading, latest, source, ("forecast", "actual", "index", "generation_mix"))
    rows = []
    for (zone_id, period_start), reading in latest.items():
        old = existing.get((zone_id, period_start))
        values = {
            "period_end": reading.period_end,
            "forecast": reading.forecast,
            "actual": reading.actual,
            "index": reading.index if reading.index in IntensityIndex.values else "",
            "generation_mix": reading.generation_mix or None,
        }
        if old is None:
            counts.inserted += 1
        else:
            for name in ("forecast", "actual", "index", "generation_mix"):
                if values[name] in (None, ""):
                    values[name] = old[name]
            if all(values[name] == old[name] for name in old if name in values):
                counts.unchanged += 1
            else:
                counts.updated += 1
        rows.append(
            ZoneIntensityReading(
                zone_id=zone_id, period_start=period_start, source=source, fetched_at=fetched_at, **values
            )
        )
    ZoneIntensityReading.objects.bulk_create(
        rows,
        batch_size=_BATCH,
        update_conflicts=True,
        unique_fields=["zone", "period_start", "source"],
        update_fields=["period_end", "forecast", "actual", "index", "generation_mix", "fetched_at"],
    )
    return counts


def prices_upsert(
    *, prices: Iterable[tuple[UUID, datetime, datetime, Decimal]], source: str, fetched_at: datetime
) -> UpsertCounts:
    """Insert or update ``(zone id, period start, period end, GBP/kWh)`` like ``readings_upsert``."""
    counts = UpsertCounts()
    latest: dict[tuple[UUID, datetime], tuple[datetime, Decimal]] = {}
    for zone_id, start, end, price in prices:
        if not (price.is_finite() and -MAX_PRICE <= price <= MAX_PRICE):
            counts.rejected.append(f"{start:%Y-%m-%dT%H:%MZ}: price {price} out of range")
            continue
        latest[(zone_id, start)] = (end, price.quantize(Decimal("0.0001")))
    if not latest:
        return counts
    existing = _existing(ZonePriceReading, latest, source, ("price",))
    rows = []
    for (zone_id, start), (end, price) in latest.items():
        old = existing.get((zone_id, start))
        if old is None:
            counts.inserted += 1
        elif old["price"] == price and old["period_end"] == end:
            counts.unchanged += 1
        else:
            counts.updated += 1
        rows.append(
            ZonePriceReading(
                zone_id=zone_id, period_start=start, period_end=end, price=price, source=source, fetched_at=fetched_at
            )
        )
    ZonePriceReading.objects.bulk_create(
        rows,
        batch_size=_BATCH,
        update_conflicts=True,
        unique_fields=["zone", "period_start", "source"],
        update_fields=["period_end", "price", "fetched_at"],
    )
    return counts


def _existing(model, keys: dict[tuple[UUID, datetime], Any], source: str, names: Sequence[str]) -> dict:
    """Stored rows of ``source`` among ``keys``: one query over the keys' zones and time span."""
    zone_ids = {zone_id for zone_id, _ in keys}
    starts = [start for _, start in keys]
    rows = (
        model.objects.filter(
            zone_id__in=zone_ids, source=source, period_start__gte=min(starts), period_start__lte=max(starts)
        )
        .order_by()
        .values("zone_id", "period_start", "period_end", *names)
    )
    return {(row["zone_id"], row["period_start"]): row for row in rows if (row["zone_id"], row["period_start"]) in keys}


# -- current figures -------------------------------------------------------------------------------


def zone_figures_update(*, zone_ids: Iterable[UUID], now: datetime | None = None) -> list[UUID]:
    """Set each zone's current ``carbon_intensity`` (and ``energy_price`` where a price reading exists)
    from its preferred reading for the half hour containing ``now``; ``figures_updated_at`` becomes that
    reading's fetch time, so staleness measures the age of the data, not of this call.

    Zones with no reading for now are left as they are (and go stale by age). A negative price
    reading sets the zone's price to 0: the zone's current price cannot be negative. Three queries.
    """
    now = now or timezone.now()
    zones = list(GridZone.objects.filter(pk__in=list(zone_ids)))
    changed = []
    current = selectors.current_figures(zones=zones, now=now)
    for zone in zones:
        if zone.pk not in current:
            continue
        reading, price = current[zone.pk]
        zone.carbon_intensity = Decimal(f"{min(reading.intensity, MAX_INTENSITY):.2f}")
        if price is not None:
            zone.energy_price = max(price, Decimal(0))
        zone.figures_updated_at = reading.fetched_at
        zone.updated_at = timezone.now()  # bulk_update does not apply auto_now
        changed.append(zone)
    GridZone.objects.bulk_update(changed, ["carbon_intensity", "energy_price", "figures_updated_at", "updated_at"])
    return [zone.pk for zone in changed]


def _announce(zone_ids: Iterable[UUID]) -> None:
    """Send ``carbon_data_refreshed`` once the current transaction commits."""
    ids = sorted(set(zone_ids), key=str)
    if ids:
        transaction.on_commit(lambda: carbon_data_refreshed.send(sender=GridZone, zone_ids=ids))


# -- the refresh -----------------------------------------------------------------------------------


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
    readings, update the zones' current figures and, after commit, send ``carbon_data_refreshed``.

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
        _announce(zone_id for zone_id, _ in pairs)
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


# -- importing files -------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What ``intensity_import`` read and wrote. ``rejections`` are (line, reason) of unusable lines;
    ``skipped`` counts readings whose zone key matched no Pylon zone, by key."""

    format: str = ""
    rows_read: int = 0
    rows_rejected: int = 0
    rejections: list[tuple[int, str]] = field(default_factory=list)
    readings: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    prices_inserted: int = 0
    prices_updated: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    zones: list[str] = field(default_factory=list)


class IntensityImportError(Exception):
    """The file cannot be imported at all (unreadable, unknown format, no zone for its rows)."""


def intensity_import(
    *,
    path: str | Path,
    zone_code: str | None = None,
    file_key: str | None = None,
    source: str = CarbonSource.FILE,
    now: datetime | None = None,
) -> ImportSummary:
    """Import a recorded series (see ``zones.providers.files`` for the formats) as ``source``'s readings.

    Rows go to zones by ``zone_code`` (a grid zone code: every row of a single-series file, or of the
    series ``file_key`` of a multi-series file), else by the file's zone column: a NESO region id goes
    to the zones with that ``neso_region_id``; any other key to the zone with that grid zone code, else
    to the zones with that ``provider_zone_key``, else (a number) to the zones in that NESO region.
    Keys that match no zone are counted in ``skipped``. Current figures are updated when the file
    covers now.
    """
    if source not in CarbonSource.values:
        raise IntensityImportError(f"unknown source {source!r}; expected one of {', '.join(CarbonSource.values)}")
    target = None
    if zone_code is not None:
        target = GridZone.objects.filter(grid_zone_code=zone_code).first()
        if target is None:
            raise IntensityImportError(f"no zone with grid zone code {zone_code!r}")
    try:
        try:
            parsed = parse_csv(path)
        except CsvFormatError:
            if target is None:
                raise
            parsed = parse_csv(path, zone=zone_code)  # a file without a zone column
    except (CsvFormatError, OSError) as exc:
        raise IntensityImportError(f"{path}: {exc}") from exc

    summary = ImportSummary(
        format=str(parsed.format or ""),
        rows_read=parsed.rows_read,
        rows_rejected=parsed.rows_rejected,
        rejections=[(r.line, r.reason) for r in parsed.rejections],
    )
    readings = parsed.readings
    if target is not None:
        keys = sorted({r.zone_key for r in readings})
        if file_key is not None:
            readings = [r for r in readings if r.zone_key == file_key]
            if not readings:
                raise IntensityImportError(f"the file has no series {file_key!r} (it has: {', '.join(keys[:20])})")
        elif len(keys) > 1:
            raise IntensityImportError(
                f"the file holds {len(keys)} series ({', '.join(keys[:20])}): pass --key to choose one for "
                f"{zone_code}, or omit --zone to map every series to its zone"
            )
        zones_by_key = {r.zone_key: [target] for r in readings}
    else:
        zones_by_key = _zones_by_key({r.zone_key for r in readings}, parsed.format)

    pairs, skipped = [], Counter()
    prices = []
    for reading in readings:
        matched = zones_by_key.get(reading.zone_key, [])
        if not matched:
            skipped[reading.zone_key] += 1
        for zone in matched:
            pairs.append((zone.pk, reading))
            if reading.price_gbp_per_kwh is not None:
                price = Decimal(str(reading.price_gbp_per_kwh))
                prices.append((zone.pk, reading.period_start, reading.period_end, price))
    summary.skipped = dict(sorted(skipped.items()))
    summary.readings = len(pairs)
    fetched_at = timezone.now()
    with transaction.atomic():
        counts = readings_upsert(readings=pairs, source=source, fetched_at=fetched_at)
        price_counts = prices_upsert(prices=prices, source=source, fetched_at=fetched_at)
        zone_ids = {zone_id for zone_id, _ in pairs}
        zone_figures_update(zone_ids=zone_ids, now=now)
        _announce(zone_ids)
    summary.inserted, summary.updated, summary.unchanged = counts.inserted, counts.updated, counts.unchanged
    summary.rows_rejected += len(counts.rejected)
    summary.prices_inserted, summary.prices_updated = price_counts.inserted, price_counts.updated
    codes = {zone.pk: zone.grid_zone_code for zones in zones_by_key.values() for zone in zones}
    summary.zones = sorted(codes[zone_id] for zone_id in zone_ids)
    return summary


def _zones_by_key(keys: set[str], file_format: CsvFormat | None) -> dict[str, list[GridZone]]:
    region_ids = {int(key) for key in keys if key.isdigit() and len(key) <= 4}
    if file_format is CsvFormat.NESO_REGIONAL:
        candidates = GridZone.objects.filter(neso_region_id__in=region_ids)
    else:
        named = keys - {NATIONAL_ZONE_KEY}
        candidates = GridZone.objects.filter(
            Q(grid_zone_code__in=named) | Q(provider_zone_key__in=named) | Q(neso_region_id__in=region_ids)
        )
    candidates = list(candidates.order_by("grid_zone_code"))
    mapping: dict[str, list[GridZone]] = {}
    for key in keys:
        region = int(key) if key.isdigit() and len(key) <= 4 else None
        by_region = [z for z in candidates if region is not None and z.neso_region_id == region]
        if file_format is CsvFormat.NESO_REGIONAL:
            mapping[key] = by_region
            continue
        by_code = [z for z in candidates if z.grid_zone_code == key]
        by_provider_key = [z for z in candidates if z.provider_zone_key and z.provider_zone_key == key]
        mapping[key] = by_code or by_provider_key or by_region
    return mapping
