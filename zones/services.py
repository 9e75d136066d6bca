"""Writes for grid zones and their carbon-intensity data.

Zones are written by staff (the API and the admin both come through here). Readings are written by
the refresh (``zones.refresh.carbon_refresh``, run by Celery beat and ``manage.py
refresh_carbon_intensity``), the file import (``zones.file_import.intensity_import``, ``manage.py
import_intensity``) and the demo seeding, all through ``readings_upsert``, ``zone_figures_update`` and
``readings_announce`` here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from outbox import services as outbox
from outbox.models import EventType
from pylon.services import model_update
from zones import selectors
from zones.models import (
    LIVE_SOURCES,
    MAX_INTENSITY,
    MAX_PRICE,
    GridZone,
    IntensityIndex,
    ZoneIntensityReading,
    ZonePriceReading,
)
from zones.providers import (
    IntensityReading,
)

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
#: The task that refreshes zones' data (``zones.tasks``; enqueued by name through ``pylon.background``,
#: by ``zones.handlers`` after a ``zone.source_changed`` event).
REFRESH_TASK = "zones.tasks.refresh_carbon_intensity"
_BATCH = 1000


# -- zones -----------------------------------------------------------------------------------------


def zone_create(**data) -> GridZone:
    zone = GridZone(**{name: data[name] for name in ZONE_WRITABLE_FIELDS if name in data})
    zone.figures_updated_at = timezone.now()
    zone.full_clean()
    zone.save()
    _record_source_change(zone)
    return zone


def zone_capacity_change_check(*, zone: GridZone, data: dict) -> None:
    """Refuse (409 ``capacity_exceeded``) to lower the capacity of ``zone`` (as stored) to ``data``'s
    below what scheduled and running work holds there; the zone stays locked until the caller's
    transaction ends. The API's update and the console's form both ask this."""
    from workloads import capacity  # the ledger of holds lives with the workloads that hold

    capacity.capacity_change_check(zone=zone, data=data, now=timezone.now())


@transaction.atomic
def zone_update(*, zone: GridZone, data: dict) -> GridZone:
    """Change a zone. Capacity cannot drop below what scheduled and running work holds there (409)."""
    zone_capacity_change_check(zone=zone, data=data)
    figures_change = any(name in data and getattr(zone, name) != data[name] for name in FIGURE_FIELDS)
    provider_change = any(name in data and getattr(zone, name) != data[name] for name in PROVIDER_FIELDS)
    if figures_change:
        data = {**data, "figures_updated_at": timezone.now()}
    zone, _ = model_update(instance=zone, fields=[*ZONE_WRITABLE_FIELDS, "figures_updated_at"], data=data)
    if provider_change:
        _record_source_change(zone)
    return zone


def _record_source_change(zone: GridZone) -> None:
    """A new or re-keyed zone of a live source: record it, so its forecast is fetched after the commit
    (``zones.handlers``), without the request ever waiting on the broker."""
    if zone.carbon_provider not in LIVE_SOURCES:
        return
    outbox.event_record(
        type=EventType.ZONE_SOURCE_CHANGED,
        subject_id=zone.pk,
        payload={"zone": str(zone.pk), "carbon_provider": str(zone.carbon_provider)},
    )


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


def readings_announce(zone_ids: Iterable[UUID]) -> None:
    """Record ``zone.forecasts_updated`` for the zones whose series changed, as the last write of the
    caller's transaction (its readers, such as the scheduling app's recompute, run after the commit)."""
    ids = sorted({str(pk) for pk in zone_ids})
    if ids:
        outbox.event_record(type=EventType.ZONE_FORECASTS_UPDATED, payload={"zone_ids": ids})
