"""Importing recorded carbon-intensity series from files (``manage.py import_intensity``); the
formats are parsed by ``zones.providers.files``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from zones.models import CarbonSource, GridZone
from zones.providers import CsvFormat, CsvFormatError, parse_csv
from zones.providers.neso import NATIONAL_ZONE_KEY
from zones.services import prices_upsert, readings_announce, readings_upsert, zone_figures_update


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
        readings_announce(zone_ids)
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
