"""Reads for analytics: the SPA's charts, computed in the database.

Visibility is never decided here: every figure starts from ``workloads.selectors.workload_list``, so
a user's analytics cover their own workloads, an operator's their organisation's, and the service
role's everyone's. Each figure is one grouped query whatever the number of rows or buckets.

Workload figures are by *cohort*: a workload belongs to the bucket in which it was submitted, and
its outcome (completed, emissions, savings…) is counted there. Over a period that holds all of a
caller's workloads the totals are therefore exactly those of ``/workloads/stats/``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, DecimalField, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from analytics.periods import Period
from workloads import capacity
from workloads import selectors as workload_selectors
from workloads.models import CapacityHold, Urgency, WorkloadStatus, WorkloadType
from zones import selectors as zone_selectors
from zones.models import GridZone
from zones.providers.base import HALF_HOUR


class GroupBy(models.TextChoices):
    ZONE = "zone", "Chosen zone"
    WORKLOAD_TYPE = "workload_type", "Workload type"
    URGENCY = "urgency", "Urgency"
    USER = "user", "Owner (operators only)"


#: group_by → (the key column, the label column or None when the key's choices label it).
_GROUP_COLUMNS = {
    GroupBy.ZONE: ("chosen_grid_zone_id", "chosen_grid_zone__zone_name"),
    GroupBy.WORKLOAD_TYPE: ("workload_type", None),
    GroupBy.URGENCY: ("urgency", None),
    GroupBy.USER: ("user_id", "user__user_name"),
}
_CHOICE_LABELS = {GroupBy.WORKLOAD_TYPE: dict(WorkloadType.choices), GroupBy.URGENCY: dict(Urgency.choices)}
NOT_ASSIGNED = "Not assigned yet"

_DONE = Q(status=WorkloadStatus.COMPLETED)
_MONEY = DecimalField(max_digits=20, decimal_places=4)

#: The sums of one row, each computed by the database; the figures are derived from them.
WORKLOAD_SUMS: dict[str, Any] = {
    "submitted": Count("id"),
    "completed": Count("id", filter=_DONE),
    "failed": Count("id", filter=Q(status=WorkloadStatus.FAILED)),
    "cancelled": Count("id", filter=Q(status=WorkloadStatus.CANCELLED)),
    "energy_kwh": Sum(Coalesce("actual_energy_kwh", "estimated_energy_kwh"), filter=_DONE),
    "carbon_emitted_kg": Sum("carbon_emitted_kg", filter=_DONE),
    "baseline_carbon_kg": Sum("baseline_carbon_kg", filter=_DONE),
    "cost_gbp": Sum("cost_gbp", filter=_DONE),
    "baseline_cost_gbp": Sum("baseline_cost_gbp", filter=_DONE),
    "started": Count("id", filter=Q(actual_start__isnull=False)),
    "wait_total": Sum(
        ExpressionWrapper(F("actual_start") - F("submitted_at"), output_field=DurationField()),
        filter=Q(actual_start__isnull=False),
    ),
    "with_deadline": Count("id", filter=_DONE & Q(deadline__isnull=False, actual_end__isnull=False)),
    "on_time": Count("id", filter=_DONE & Q(actual_end__lte=F("deadline"))),
}
_DECIMAL_SUMS = ("energy_kwh", "carbon_emitted_kg", "baseline_carbon_kg", "cost_gbp", "baseline_cost_gbp")
_COUNTS = ("submitted", "completed", "failed", "cancelled", "started", "with_deadline", "on_time")


def figures(sums: dict[str, Any]) -> dict[str, Any]:
    """The published figures of one row (or of the totals) from its database sums (README: Analytics)."""
    zero = Decimal(0)
    values = {name: sums.get(name) or zero for name in _DECIMAL_SUMS}
    carbon_saved = values["baseline_carbon_kg"] - values["carbon_emitted_kg"]
    wait = sums.get("wait_total") or timedelta(0)
    started = sums.get("started") or 0
    with_deadline = sums.get("with_deadline") or 0
    return {
        **{name: sums.get(name) or 0 for name in ("submitted", "completed", "failed", "cancelled")},
        **values,
        "carbon_saved_kg": carbon_saved,
        "carbon_saved_pct": (
            (carbon_saved * 100 / values["baseline_carbon_kg"]).quantize(Decimal("0.01"))
            if values["baseline_carbon_kg"]
            else None
        ),
        "cost_saved_gbp": values["baseline_cost_gbp"] - values["cost_gbp"],
        "mean_wait_minutes": (
            Decimal(wait.total_seconds() / 60 / started).quantize(Decimal("0.1")) if started else None
        ),
        "on_time_share": Decimal(sums["on_time"] / with_deadline).quantize(Decimal("0.0001"))
        if with_deadline
        else None,
    }


def _add(total: dict[str, Any], sums: dict[str, Any]) -> None:
    for name in (*_COUNTS, *_DECIMAL_SUMS, "wait_total"):
        value = sums.get(name)
        if value is not None:
            total[name] = value if name not in total else total[name] + value


@dataclass(frozen=True)
class WorkloadAnalytics:
    period: Period
    group_by: str | None
    rows: list[dict[str, Any]]
    totals: dict[str, Any]


def workload_analytics(*, fetched_by: User, period: Period, group_by: str | None = None) -> WorkloadAnalytics:
    """The workload figures of ``period`` per bucket (and per group), and their totals. One query.

    Without ``group_by`` every bucket of the period is present (zeros where nothing was submitted);
    with it, only the (bucket, group) pairs that have workloads.
    """
    if group_by == GroupBy.USER and not (fetched_by.is_operator or fetched_by.is_service_role):
        raise PermissionDenied("Only operators may group analytics by user.")
    columns = _GROUP_COLUMNS[group_by] if group_by else ()
    values = [column for column in columns if column]
    rows = (
        workload_selectors.workload_list(fetched_by=fetched_by)
        .filter(submitted_at__gte=period.start, submitted_at__lt=period.end)
        .annotate(bucket=period.trunc("submitted_at"))
        .order_by()
        .values("bucket", *values)
        .annotate(**WORKLOAD_SUMS)
    )
    by_bucket: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    totals: dict[str, Any] = {}
    for row in rows:
        # Keyed by the UTC instant: two wall times of the hour repeated in October compare equal.
        by_bucket[row["bucket"].astimezone(UTC)].append(row)
        _add(totals, row)
    out = []
    for start, end in period.buckets():
        found = by_bucket.get(start.astimezone(UTC)) or ([] if group_by else [{}])
        for row in sorted(found, key=lambda r: _group_label(group_by, r) or ""):
            key = row.get(columns[0]) if group_by else None
            out.append(
                {
                    "bucket_start": start,
                    "bucket_end": end,
                    "group_key": None if key is None else str(key),
                    "group_label": _group_label(group_by, row),
                    **figures(row),
                }
            )
    return WorkloadAnalytics(period=period, group_by=group_by, rows=out, totals=figures(totals))


def _group_label(group_by: str | None, row: dict[str, Any]) -> str | None:
    if not group_by:
        return None
    key_column, label_column = _GROUP_COLUMNS[group_by]
    if label_column:
        return row.get(label_column) or NOT_ASSIGNED
    return _CHOICE_LABELS[group_by].get(row.get(key_column), row.get(key_column))


# -- zone utilisation ------------------------------------------------------------------------------

#: Work that holds capacity: planned, running or done.
RESERVING = (WorkloadStatus.SCHEDULED, WorkloadStatus.RUNNING, WorkloadStatus.COMPLETED)
_HOURS = Decimal(60)


def zone_utilisation(*, fetched_by: User, period: Period) -> list[dict[str, Any]]:
    """Per zone and bucket: the GPU-, core- and memory-hours reserved by the caller's SCHEDULED,
    RUNNING and COMPLETED workloads starting in the bucket (really started, else planned), against
    the zone's capacity over the bucket. Two queries (the sums, the zones)."""
    if not (fetched_by.is_operator or fetched_by.is_service_role):
        raise PermissionDenied("Zone utilisation is for operators.")
    start_at = Coalesce("actual_start", "planned_start")
    duration = F("estimated_duration_mins")
    decimal = DecimalField(max_digits=24, decimal_places=2)
    rows = (
        workload_selectors.workload_list(fetched_by=fetched_by)
        .filter(status__in=RESERVING, chosen_grid_zone__isnull=False)
        .annotate(start_at=start_at)
        .filter(start_at__gte=period.start, start_at__lt=period.end)
        .annotate(bucket=period.trunc("start_at"))
        .order_by()
        .values("bucket", "chosen_grid_zone_id")
        .annotate(
            workloads=Count("id"),
            gpu_mins=Sum("required_gpu_mins"),
            core_mins=Sum(ExpressionWrapper(F("required_cpu_cores") * duration, output_field=models.BigIntegerField())),
            memory_gb_mins=Sum(ExpressionWrapper(F("required_memory_gb") * duration, output_field=decimal)),
        )
    )
    rows = list(rows)
    zones = {
        zone.pk: zone
        for zone in zone_selectors.zone_list(fetched_by=fetched_by).filter(
            pk__in={row["chosen_grid_zone_id"] for row in rows}
        )
    }
    bounds = dict(period.buckets())
    out = []
    for row in rows:
        zone, bucket_start = zones[row["chosen_grid_zone_id"]], row["bucket"]
        bucket_end = bounds.get(bucket_start) or period.next(bucket_start)
        hours = Decimal((bucket_end - bucket_start).total_seconds() / 3600)
        reserved = {
            "gpu": Decimal(row["gpu_mins"] or 0) / _HOURS,
            "core": Decimal(row["core_mins"] or 0) / _HOURS,
            "memory_gb": Decimal(row["memory_gb_mins"] or 0) / _HOURS,
        }
        capacity = {"gpu": zone.gpu_capacity, "core": zone.cpu_core_capacity, "memory_gb": zone.memory_gb_capacity}
        entry = {
            "zone": zone,
            "bucket_start": bucket_start.astimezone(period.tz),
            "bucket_end": bucket_end.astimezone(period.tz),
            "workloads": row["workloads"],
        }
        for resource, hours_reserved in reserved.items():
            available = capacity[resource] * hours
            entry[f"{resource}_hours_reserved"] = hours_reserved.quantize(Decimal("0.01"))
            entry[f"{resource}_hours_capacity"] = available.quantize(Decimal("0.01"))
            entry[f"{resource}_utilisation_pct"] = (
                (hours_reserved * 100 / available).quantize(Decimal("0.01")) if available else None
            )
        out.append(entry)
    out.sort(key=lambda e: (e["bucket_start"], e["zone"].zone_name))
    return out


# -- half hours held over capacity ------------------------------------------------------------------


def zone_overbooking(*, fetched_by: User, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every zone's half hours from the current one on where the capacity ledger holds more than the
    zone has (late starts, overruns, operators' overrides), one row per resource over, with the
    caller's own work held there (an operator's organisation's: never another's; zones are shared,
    so what is held is the zone's total). The ledger as the last roll left it (every five minutes,
    and at every check). Four queries whatever the number of rows."""
    if not (fetched_by.is_operator or fetched_by.is_service_role):
        raise PermissionDenied("Overbooked capacity is for operators.")
    over = capacity.overbooked(since=now or timezone.now())
    zones = zone_selectors.zone_list(fetched_by=fetched_by).in_bulk({zone_id for zone_id, *_ in over})
    work: dict[tuple, list[str]] = defaultdict(list)
    if over:
        held = (
            CapacityHold.objects.filter(
                workload__in=workload_selectors.workload_list(fetched_by=fetched_by),
                zone_id__in=list(zones),
                slot_start__gte=min(slot for _, slot, *_ in over),
            )
            .order_by("workload__job_id")
            .values_list("zone_id", "slot_start", "workload__job_id")
        )
        for zone_id, slot_start, job_id in held:
            work[(zone_id, slot_start)].append(job_id)
    rows = [
        {
            "zone": zones[zone_id],
            "slot_start": slot_start,
            "slot_end": slot_start + HALF_HOUR,
            "resource": resource,
            "held": held_amount,
            "capacity": limit,
            "short": held_amount - limit,
            "workloads": work.get((zone_id, slot_start), []),
        }
        for zone_id, slot_start, resource, held_amount, limit in over
    ]
    rows.sort(key=lambda row: (row["slot_start"], row["zone"].zone_name, row["resource"]))
    return rows


# -- a zone's weekly profile -----------------------------------------------------------------------

MAX_PROFILE_WEEKS = 52
CLEANEST_HOURS = 3


def zone_profile(*, zone: GridZone, weeks: int, tz: ZoneInfo, now: datetime | None = None) -> dict[str, Any]:
    """The zone's mean intensity by weekday × local hour over the last ``weeks`` weeks, and its
    cleanest hours of the day.

    The half hours come from ``zones.selectors.zone_intensity_series`` (two queries): where several
    sources cover a half hour, only the preferred reading counts, and that rule has one home, in
    Python there. The averaging over at most 52 × 336 points is then done here.
    """
    end = now or timezone.now()
    series = zone_selectors.zone_intensity_series(zone=zone, start=end - timedelta(weeks=weeks), end=end)
    cells: dict[tuple[int, int], list[float]] = defaultdict(list)
    hours: dict[int, list[float]] = defaultdict(list)
    for point in series:
        local = point.reading.period_start.astimezone(tz)
        cells[(local.isoweekday(), local.hour)].append(point.reading.intensity)
        hours[local.hour].append(point.reading.intensity)
    grid = [
        {
            "weekday": weekday,
            "hour": hour,
            "mean_intensity": _mean(cells[(weekday, hour)]),
            "samples": len(cells[(weekday, hour)]),
        }
        for weekday in range(1, 8)
        for hour in range(24)
    ]
    by_hour = sorted(((_mean(values), hour) for hour, values in hours.items() if values))
    return {
        "zone": zone,
        "weeks": weeks,
        "start": end - timedelta(weeks=weeks),
        "end": end,
        "cells": grid,
        "cleanest_hours": [{"hour": hour, "mean_intensity": mean} for mean, hour in by_hour[:CLEANEST_HOURS]],
    }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None
