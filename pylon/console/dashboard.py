"""The figures of the admin index: the same selectors as the API's stats, with the signed-in user."""

import math
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone
from django.utils.safestring import SafeString

from accounts.models import User
from pylon.console import charts, formatting
from scheduling import selectors as scheduling_selectors
from workloads import selectors as workload_selectors
from zones import selectors as zone_selectors
from zones.models import GridZone
from zones.providers.bands import zone_band

SAVINGS_WEEKS = 8
OUTLOOK_SLOTS = 97  # the half hour containing now and the next 48 hours


@dataclass(frozen=True)
class ZoneOutlook:
    zone: GridZone
    now_text: str
    band: str
    lowest_text: str
    chart: SafeString


def queue_summary(*, fetched_by: User) -> dict:
    """How many workloads wait in the caller's queue, and since when the oldest has."""
    figures = (
        scheduling_selectors.queue_list(fetched_by=fetched_by)
        .order_by()
        .aggregate(length=Count("id"), oldest=Min("submitted_at"))
    )
    return figures


def savings_chart(weeks: list[workload_selectors.WeekSavings]) -> SafeString:
    bars = [
        charts.Bar(
            label=f"{week.start:%-d %b}", value=float(week.carbon_saved_kg), text=formatting.kg(week.carbon_saved_kg)
        )
        for week in weeks
    ]
    summary = "Carbon saved per week, oldest first: " + "; ".join(f"week of {b.label}: {b.text}" for b in bars)
    return charts.bar_chart(bars, summary=summary)


def zone_outlook(*, zones: list[GridZone], now: datetime) -> list[ZoneOutlook]:
    """Each zone's intensity now and over the next 48 hours (two queries whatever the zone count)."""
    grid = zone_selectors.intensity_grid(zones=zones, start=now, slots=OUTLOOK_SLOTS)
    outlooks = []
    axis = [(0, "now"), (48, "+24 h"), (OUTLOOK_SLOTS - 1, "+48 h")]
    for row, zone in enumerate(zones):
        values = [None if math.isnan(v) else float(v) for v in grid.intensity[row]]
        current = values[0]
        known = [(v, i) for i, v in enumerate(values) if v is not None]
        marks, lowest_text = [], "no forecast"
        if known:
            low, at = min(known)
            when = formatting.when(grid.slot_start(at))
            lowest_text = f"lowest {formatting.g_per_kwh(low)} at {when}"
            marks.append(charts.Mark(at, f"{low:.0f}"))
        # The API's band rule: NESO's bands are a calibration of the GB grid, so other zones have none.
        index = zone_band(neso_region_id=zone.neso_region_id, intensity=current, at=grid.start)
        band = "unknown" if current is None else (index.value if index is not None else "no band")
        summary = f"{zone.zone_name}: now {formatting.g_per_kwh(current)} ({band}); next 48 hours {lowest_text}"
        outlooks.append(
            ZoneOutlook(
                zone=zone,
                now_text=formatting.g_per_kwh(current),
                band=band,
                lowest_text=lowest_text,
                chart=charts.line_chart(values, summary=summary, marks=marks, axis_labels=axis),
            )
        )
    return outlooks


def dashboard(*, user: User, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    stats = workload_selectors.workload_stats(fetched_by=user)
    weeks = workload_selectors.workload_savings_by_week(fetched_by=user, weeks=SAVINGS_WEEKS, now=now)
    queue = queue_summary(fetched_by=user)
    this_week = weeks[-1]
    zones = list(zone_selectors.zone_list(fetched_by=user).order_by("zone_name"))
    return {
        "dashboard": {
            "queue_length": queue["length"],
            "oldest_wait": formatting.duration(now - queue["oldest"]) if queue["oldest"] else "nobody waiting",
            "scheduled": stats["counts_by_status"]["SCHEDULED"],
            "running": stats["active"],
            "week": this_week,
            "week_carbon_saved": formatting.saving_kg(this_week.carbon_saved_kg),
            "week_cost_saved": formatting.gbp(this_week.cost_saved_gbp),
            "total_carbon_saved": formatting.saving_kg(stats["carbon_saved_kg"]),
            "total_cost_saved": formatting.gbp(stats["cost_saved_gbp"]),
            "weeks": [
                {
                    "start": week.start,
                    "completed": week.completed,
                    "carbon": formatting.saving_kg(week.carbon_saved_kg),
                    "cost": formatting.gbp(week.cost_saved_gbp),
                }
                for week in weeks
            ],
            "savings_chart": savings_chart(weeks),
            "zones": zone_outlook(zones=zones, now=now),
        }
    }
