"""Reads for grid zones and their half-hourly carbon-intensity and price series.

Several sources may hold the same zone and half hour (a live provider, an imported file). Every
read here resolves them with one rule, ``preferred_reading``: a reading with an ``actual`` beats a
forecast-only one (a measurement is better than a forecast); then the most recently fetched wins (a
newer fetch or import is newer information); then the zone's own provider; the figure of the
period is its ``actual`` when known, else its ``forecast``. Prices: the most recently fetched price
reading, else the zone's flat ``energy_price``.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import numpy as np
from django.conf import settings
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from zones.models import GridZone, ZoneIntensityReading, ZonePriceReading
from zones.providers.bands import zone_band
from zones.providers.base import HALF_HOUR, floor_half_hour

#: The longest range one series request may ask for.
MAX_SERIES_RANGE = timedelta(days=31)
#: The longest grid ``intensity_grid`` builds (a year of half hours): a guard, not a product limit.
MAX_GRID_SLOTS = 366 * 48

_READING_FIELDS = ("zone_id", "period_start", "period_end", "forecast", "actual", "index", "generation_mix")
_READING_FIELDS += ("source", "fetched_at")


def zone_list(*, fetched_by=None) -> QuerySet[GridZone]:
    """Every signed-in user sees every zone: zones are shared infrastructure, not tenant data."""
    return GridZone.objects.all()


def zones_by_reference(*, references: Iterable[str], fetched_by=None) -> dict[str, GridZone]:
    """The zones named by ``references`` (each an id or a ``grid_zone_code``), keyed by the reference
    as given. One query whatever the number of references; unknown ones are absent."""
    references = {str(ref).strip() for ref in references if isinstance(ref, str | UUID) and str(ref).strip()}
    ids: dict[UUID, str] = {}
    for ref in references:
        with contextlib.suppress(ValueError):
            ids[UUID(ref)] = ref
    codes = references - set(ids.values())
    found: dict[str, GridZone] = {}
    if not references:
        return found
    for zone in zone_list(fetched_by=fetched_by).filter(Q(pk__in=list(ids)) | Q(grid_zone_code__in=codes)):
        if zone.pk in ids:
            found[ids[zone.pk]] = zone
        if zone.grid_zone_code in codes:
            found[zone.grid_zone_code] = zone
    return found


# -- staleness and the current band ----------------------------------------------------------------


def stale_after() -> timedelta:
    return timedelta(minutes=settings.CARBON_DATA_STALE_AFTER_MINUTES)


def zone_is_stale(*, zone: GridZone, now: datetime | None = None) -> bool:
    """True when the zone's figures are older than ``CARBON_DATA_STALE_AFTER_MINUTES`` (or never set).

    Computed, not stored: a zone goes stale by the clock alone when refreshes fail, with no job to
    flip a flag."""
    if zone.figures_updated_at is None:
        return True
    return zone.figures_updated_at < (now or timezone.now()) - stale_after()


@dataclass(frozen=True)
class ProviderFreshness:
    provider: str
    zones: int
    #: The stalest updated zone's last update (None when no zone was ever updated; those count as stale).
    oldest_update: datetime | None
    stale_zones: int


def provider_freshness(*, now: datetime | None = None) -> list[ProviderFreshness]:
    """Per carbon-data provider: its zones, the stalest one's last update and how many are stale
    (by ``zone_is_stale``'s rule), in one query (for metrics)."""
    cutoff = (now or timezone.now()) - stale_after()
    rows = (
        GridZone.objects.values("carbon_provider")
        .annotate(
            zones=Count("id"),
            oldest_update=Min("figures_updated_at"),
            stale_zones=Count("id", filter=Q(figures_updated_at__isnull=True) | Q(figures_updated_at__lt=cutoff)),
        )
        .order_by("carbon_provider")
    )
    return [
        ProviderFreshness(
            provider=row["carbon_provider"],
            zones=row["zones"],
            oldest_update=row["oldest_update"],
            stale_zones=row["stale_zones"],
        )
        for row in rows
    ]


def zone_current_index(*, zone: GridZone) -> str | None:
    """The band of the zone's current intensity, which describes the half hour it was set in."""
    at = zone.figures_updated_at or timezone.now()
    return zone_band(neso_region_id=zone.neso_region_id, intensity=float(zone.carbon_intensity), at=at)


# -- resolving several sources ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesReading:
    """One zone's resolved figures for one half hour."""

    zone_id: UUID
    period_start: datetime
    period_end: datetime
    forecast: float | None
    actual: float | None
    index: str | None
    generation_mix: dict[str, float] | None
    source: str
    fetched_at: datetime

    @property
    def intensity(self) -> float:
        return self.actual if self.actual is not None else self.forecast


def _preference(row: SeriesReading, own_source: str | None) -> tuple:
    return (row.actual is not None, row.fetched_at, row.source == own_source)


def preferred_reading(rows: Iterable[SeriesReading], *, own_source: str | None = None) -> SeriesReading | None:
    """The reading that counts among several for one zone and half hour (see the module docstring)."""
    return max(rows, key=lambda row: _preference(row, own_source), default=None)


def _resolve(rows: Iterable[SeriesReading], own_sources: dict[UUID, str]) -> dict[tuple[UUID, datetime], SeriesReading]:
    """The preferred reading (``preferred_reading``) of every zone and half hour among ``rows``."""
    groups: dict[tuple[UUID, datetime], list[SeriesReading]] = defaultdict(list)
    for row in rows:
        groups[(row.zone_id, row.period_start)].append(row)
    return {key: preferred_reading(group, own_source=own_sources.get(key[0])) for key, group in groups.items()}


def _readings(zone_ids: Sequence[UUID], start: datetime, end: datetime) -> list[SeriesReading]:
    """Every reading of ``zone_ids`` starting in [start, end): one query."""
    rows = (
        ZoneIntensityReading.objects.filter(zone_id__in=zone_ids, period_start__gte=start, period_start__lt=end)
        .order_by()
        .values_list(*_READING_FIELDS)
    )
    # The model stores "no band" as ""; readers get None.
    return [SeriesReading(*row[:5], row[5] or None, *row[6:]) for row in rows]


def _prices(zone_ids: Sequence[UUID], start: datetime, end: datetime) -> dict[tuple[UUID, datetime], Decimal]:
    """The most recently fetched price per zone and half hour starting in [start, end): one query."""
    rows = (
        ZonePriceReading.objects.filter(zone_id__in=zone_ids, period_start__gte=start, period_start__lt=end)
        .order_by("fetched_at")
        .values_list("zone_id", "period_start", "price")
    )
    return {(zone_id, period_start): price for zone_id, period_start, price in rows}  # newest last, so it wins


# -- series, snapshot, current figures -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """A resolved half hour of one zone, with its price (price reading, else the zone's flat price)."""

    reading: SeriesReading
    energy_price: Decimal
    price_is_flat: bool
    index: str | None


#: The default window of a series request around now.
SERIES_DEFAULT_PAST = timedelta(hours=24)
SERIES_DEFAULT_AHEAD = timedelta(hours=48)


def series_range(*, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The range of a series request, its missing bounds defaulted: from 24 hours ago to 48 hours
    ahead, or, when one bound is given, as close to that as a valid range (non-empty, at most 31 days)
    allows. The start is moved back to the start of its half hour."""
    now = floor_half_hour(timezone.now())
    longest = MAX_SERIES_RANGE
    if start is None and end is None:
        start, end = now - SERIES_DEFAULT_PAST, now + SERIES_DEFAULT_AHEAD
    elif end is None:
        end = min(start + longest, max(start + HALF_HOUR, now + SERIES_DEFAULT_AHEAD))
    elif start is None:
        start = max(end - longest, min(end - HALF_HOUR, now - SERIES_DEFAULT_PAST))
    return floor_half_hour(start), end


def zone_intensity_series(*, zone: GridZone, start: datetime, end: datetime) -> list[SeriesPoint]:
    """The zone's half hours starting in [start, end) that have a reading, in time order. Two queries."""
    start = floor_half_hour(start)
    best = _resolve(_readings([zone.pk], start, end), {zone.pk: zone.carbon_provider})
    prices = _prices([zone.pk], start, end)
    points = []
    for key in sorted(best):
        price = prices.get(key)
        reading = best[key]
        band = zone_band(neso_region_id=zone.neso_region_id, intensity=reading.intensity, at=reading.period_start)
        points.append(SeriesPoint(reading, zone.energy_price if price is None else price, price is None, band))
    return points


@dataclass(frozen=True, slots=True)
class ZoneSnapshot:
    """One zone's figures for one half hour; ``reading`` None when no source covers it."""

    zone: GridZone
    period_start: datetime
    reading: SeriesReading | None
    energy_price: Decimal
    price_is_flat: bool
    index: str | None


def intensity_snapshot(*, zones: Sequence[GridZone], at: datetime) -> list[ZoneSnapshot]:
    """Every zone's figures for the half hour containing ``at``. Two queries whatever the zone count."""
    start = floor_half_hour(at)
    ids = [zone.pk for zone in zones]
    best = _resolve(_readings(ids, start, start + HALF_HOUR), {zone.pk: zone.carbon_provider for zone in zones})
    prices = _prices(ids, start, start + HALF_HOUR)
    snapshots = []
    for zone in zones:
        price = prices.get((zone.pk, start))
        reading = best.get((zone.pk, start))
        snapshots.append(
            ZoneSnapshot(
                zone=zone,
                period_start=start,
                reading=reading,
                energy_price=zone.energy_price if price is None else price,
                price_is_flat=price is None,
                index=zone_band(neso_region_id=zone.neso_region_id, intensity=reading and reading.intensity, at=start),
            )
        )
    return snapshots


def current_figures(*, zones: Sequence[GridZone], now: datetime) -> dict[UUID, tuple[SeriesReading, Decimal | None]]:
    """For each zone with a reading for the half hour containing ``now``: that reading and the
    period's price reading (None when there is none). Used to update the zones' current figures."""
    return {
        snap.zone.pk: (snap.reading, None if snap.price_is_flat else snap.energy_price)
        for snap in intensity_snapshot(zones=zones, at=now)
        if snap.reading is not None
    }


# -- the scheduling engine's read ------------------------------------------------------------------


@dataclass(frozen=True)
class IntensityGrid:
    """Half-hourly figures of ``zone_ids`` × ``slots`` from ``start`` (aligned to the half hour).

    ``intensity`` (gCO2/kWh) is NaN where no source covers a slot (unknown, never 0); ``price``
    (GBP/kWh) is the price reading where one exists, else the zone's flat ``energy_price``.
    ``fetched_at`` is the newest fetch among the intensity readings used (None if none): what a
    recommendation records as the forecast it was made with.
    """

    start: datetime
    zone_ids: list[UUID]
    intensity: np.ndarray
    price: np.ndarray
    fetched_at: datetime | None

    @property
    def slots(self) -> int:
        return int(self.intensity.shape[1])

    def slot_start(self, index: int) -> datetime:
        return self.start + index * HALF_HOUR


def intensity_grid(*, zones: Sequence[GridZone], start: datetime, slots: int) -> IntensityGrid:
    """The figures of ``zones`` for ``slots`` half hours from the half hour containing ``start``.

    Two queries (intensity readings, price readings) whatever the number of zones and slots.
    """
    if not 0 < slots <= MAX_GRID_SLOTS:
        raise ValueError(f"slots must be between 1 and {MAX_GRID_SLOTS}, got {slots}")
    start = floor_half_hour(start)
    end = start + slots * HALF_HOUR
    ids = [zone.pk for zone in zones]
    row_of = {zone_id: row for row, zone_id in enumerate(ids)}
    intensity = np.full((len(ids), slots), np.nan)
    flat = np.array([float(zone.energy_price) for zone in zones], dtype=np.float64)
    price = np.repeat(flat.reshape(len(ids), 1), slots, axis=1)
    newest: datetime | None = None
    if ids:
        best = _resolve(_readings(ids, start, end), {zone.pk: zone.carbon_provider for zone in zones})
        for (zone_id, period_start), reading in best.items():
            column = _slot(period_start, start)
            if column is None:
                continue
            intensity[row_of[zone_id], column] = reading.intensity
            if newest is None or reading.fetched_at > newest:
                newest = reading.fetched_at
        for (zone_id, period_start), value in _prices(ids, start, end).items():
            column = _slot(period_start, start)
            if column is not None:
                price[row_of[zone_id], column] = float(value)
    return IntensityGrid(start=start, zone_ids=ids, intensity=intensity, price=price, fetched_at=newest)


def _slot(period_start: datetime, grid_start: datetime) -> int | None:
    offset = period_start - grid_start
    if offset % HALF_HOUR:  # a reading off the half-hour grid (cannot come from the providers)
        return None
    return offset // HALF_HOUR


# -- the map ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MapZone:
    zone: GridZone
    index: str | None
    is_stale: bool
    workloads: dict[str, Any]


def zone_map(
    *, zones: Sequence[GridZone], workload_figures: Mapping[Any, dict[str, Any]], now: datetime | None = None
) -> list[MapZone]:
    """The map's zones with their current figures and, per zone, ``workload_figures[zone.pk]``: the
    figures of the workloads the caller may see there, which the workloads app provides
    (``workloads.selectors.workload_zone_figures``, with zero counts for a zone without any)."""
    now = now or timezone.now()
    return [
        MapZone(
            zone=zone,
            index=zone_current_index(zone=zone),
            is_stale=zone_is_stale(zone=zone, now=now),
            workloads=workload_figures[zone.pk],
        )
        for zone in zones
    ]
