"""Demo grid zones: one data centre in each of the 14 GB DNO regions of the NESO carbon-intensity API.

Intensities are typical figures for each region and prices plausible commercial tariffs; the
carbon-intensity history loaded by ``seed_demo`` (``seed_intensity``) replaces the intensities with
recorded values. Prices stay flat: the recorded trace has none, and Pylon does not invent them.
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.utils import timezone

from zones import services
from zones.models import CarbonSource, GridZone
from zones.providers import parse_csv
from zones.providers.base import floor_half_hour

#: Regions 1-14 of a real NESO regional trace (CC BY 4.0; see zones/data/README.md).
DEMO_TRACE = Path(__file__).resolve().parent / "data" / "uk_regional_2023-03_dno.csv"
#: The trace lacks the 24 hours [2023-03-15T23:30Z, 2023-03-16T23:30Z); from the end of that gap on
#: its readings are moved one day earlier, which closes it.
_TRACE_GAP_END = datetime(2023, 3, 16, 23, 30, tzinfo=UTC)
#: The trace day onto which "today" is mapped (after closing the gap the trace runs 13T23:30 .. 17T23:00).
_TRACE_TODAY = datetime(2023, 3, 15, tzinfo=UTC)

# (neso_region_id, region, zone_id, zone_name, grid_zone_code, lat, lng, gCO2/kWh, GBP/kWh, GPUs)
DEMO_ZONES = [
    (
        1,
        "North Scotland",
        "ABD-1",
        "Aberdeen Grid Cluster",
        "UK-NSCOTLAND-01",
        "57.14970",
        "-2.09430",
        "18",
        "0.2140",
        32,
    ),
    (
        2,
        "South Scotland",
        "GLA-1",
        "Glasgow Grid Cluster",
        "UK-SCOTLAND-01",
        "55.86420",
        "-4.25180",
        "42",
        "0.2190",
        64,
    ),
    (
        3,
        "North West England",
        "MAN-1",
        "Manchester Grid Cluster",
        "UK-NWENGLAND-01",
        "53.48080",
        "-2.24260",
        "148",
        "0.2420",
        96,
    ),
    (
        4,
        "North East England",
        "NCL-1",
        "Newcastle Grid Cluster",
        "UK-NEENGLAND-01",
        "54.97830",
        "-1.61780",
        "95",
        "0.2310",
        48,
    ),
    (5, "Yorkshire", "LDS-1", "Leeds Grid Cluster", "UK-YORKSHIRE-01", "53.80080", "-1.54910", "176", "0.2380", 64),
    (
        6,
        "North Wales & Merseyside",
        "LIV-1",
        "Liverpool Grid Cluster",
        "UK-NWALES-01",
        "53.40840",
        "-2.99160",
        "132",
        "0.2450",
        48,
    ),
    (7, "South Wales", "CDF-1", "Cardiff Grid Cluster", "UK-SWALES-01", "51.48160", "-3.17910", "262", "0.2290", 64),
    (
        8,
        "West Midlands",
        "BHM-1",
        "Birmingham Grid Cluster",
        "UK-WMIDLANDS-01",
        "52.48620",
        "-1.89040",
        "205",
        "0.2510",
        96,
    ),
    (
        9,
        "East Midlands",
        "NOT-1",
        "Nottingham Grid Cluster",
        "UK-EMIDLANDS-01",
        "52.95480",
        "-1.15810",
        "221",
        "0.2470",
        64,
    ),
    (
        10,
        "East England",
        "CAM-1",
        "Cambridge Grid Cluster",
        "UK-EENGLAND-01",
        "52.20530",
        "0.12180",
        "168",
        "0.2560",
        128,
    ),
    (
        11,
        "South West England",
        "BRS-1",
        "Bristol Grid Cluster",
        "UK-SWENGLAND-01",
        "51.45450",
        "-2.58790",
        "154",
        "0.2490",
        48,
    ),
    (
        12,
        "South England",
        "SLO-1",
        "Slough Grid Cluster",
        "UK-SENGLAND-01",
        "51.51050",
        "-0.59500",
        "189",
        "0.2640",
        256,
    ),
    (
        13,
        "London",
        "LDN-1",
        "London Docklands Grid Cluster",
        "UK-LONDON-01",
        "51.50790",
        "-0.02350",
        "197",
        "0.2780",
        256,
    ),
    (
        14,
        "South East England",
        "CRA-1",
        "Crawley Grid Cluster",
        "UK-SEENGLAND-01",
        "51.10910",
        "-0.18720",
        "183",
        "0.2610",
        96,
    ),
]


def seed_zones() -> list[GridZone]:
    """Create or refresh the demo zones (idempotent: keyed on the grid zone code)."""
    zones = []
    for region_id, region, zone_id, name, code, lat, lng, intensity, price, gpus in DEMO_ZONES:
        fixed = {
            "zone_id": zone_id,
            "zone_name": name,
            "region": region,
            "country": "United Kingdom",
            "latitude": Decimal(lat),
            "longitude": Decimal(lng),
            "neso_region_id": region_id,
            "carbon_provider": CarbonSource.NESO,
            "gpu_capacity": gpus,
            "cpu_core_capacity": gpus * 32,
            "memory_gb_capacity": gpus * 256,
        }
        # The current figures are set only on creation: after that they come from the series.
        zone, _ = GridZone.objects.update_or_create(
            grid_zone_code=code,
            defaults=fixed,
            create_defaults={**fixed, "carbon_intensity": Decimal(intensity), "energy_price": Decimal(price)},
        )
        zones.append(zone)
    return zones


def demo_shift(now: datetime) -> timedelta:
    """The whole number of days the recorded trace is moved by so that it surrounds ``now``.

    The trace (2023-03-13T23:30Z .. 2023-03-18T23:00Z, the 24 hours from 2023-03-15T23:30Z missing) is
    first closed up: readings from 2023-03-16T23:30Z on move one day earlier, giving 192 contiguous
    half hours, 2023-03-13T23:30Z .. 2023-03-17T23:00Z. Then every reading moves by whole days so that the current half hour lands on
    the same time of day on 15 March of the trace. Whole days keep each reading at its real time of
    day (solar and demand shapes stay true); the demo then has 24–48 hours of history before now and
    48–72 hours ahead ("forecast"), whatever the time of day.
    """
    current = floor_half_hour(now)
    midnight = current.replace(hour=0, minute=0)
    return midnight - _TRACE_TODAY


def seed_intensity(zones: list[GridZone], *, now: datetime | None = None) -> services.UpsertCounts:
    """Load the recorded March 2023 trace into the demo zones (by NESO region), moved in time by
    ``demo_shift``, as FILE readings; then set each zone's current figures from it.

    Idempotent: readings are upserted on (zone, half hour, source), so a second run in the same day
    changes nothing; a run on a later day moves the trace to that day, updating the half hours both
    runs cover and adding the new ones. Bulk: a few queries for the 2,688 readings.
    """
    now = now or timezone.now()
    shift = demo_shift(now)
    by_region = {zone.neso_region_id: zone for zone in zones if zone.neso_region_id is not None}
    pairs = []
    for reading in parse_csv(DEMO_TRACE).readings:
        zone = by_region.get(int(reading.zone_key))
        if zone is None:
            continue
        moved = shift - (timedelta(days=1) if reading.period_start >= _TRACE_GAP_END else timedelta(0))
        pairs.append(
            (
                zone.pk,
                replace(reading, period_start=reading.period_start + moved, period_end=reading.period_end + moved),
            )
        )
    counts = services.readings_upsert(readings=pairs, source=CarbonSource.FILE, fetched_at=now)
    services.zone_figures_update(zone_ids=[zone.pk for zone in zones], now=now)
    return counts
