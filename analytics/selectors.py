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
from django.db.models import (
    Count,
    DateTimeField,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    Q,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Greatest, Least
from django.utils import timezone

from accounts.models import User
from analytics.periods import Period
from pylon.db.functions import EpochSeconds
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
_RESOURCES = ("gpu", "core", "memory_gb")
_SECONDS_PER_HOUR = 3600
_CENT = Decimal("0.01")


def zone_utilisation(*, fetched_by: User, period: Period) -> list[dict[str, Any]]:
    """Per zone and bucket: the GPU-, core- and memory-hours the caller's SCHEDULED, RUNNING and
    COMPLETED workloads reserve inside the bucket, against the zone's capacity over the bucket.

    A workload reserves its window — from its real start, else its planned one, for its estimated
    minutes — at a constant rate (its GPU-minutes spread evenly, its cores and memory throughout),
    so each bucket the window overlaps gets the share of the overlap. Each bucket's hours are the
    integral of the reserved rate over it, swept bucket by bucket from where windows start and end:
    one grouped query of those edges (per zone, bucket and kind, cut by ``Period.trunc``), one of
    the zones, whatever the number of workloads, buckets or the buckets each window spans.
    """
    if not (fetched_by.is_operator or fetched_by.is_service_role):
        raise PermissionDenied("Zone utilisation is for operators.")
    bounds = list(period.buckets())
    first, last = bounds[0][0], bounds[-1][1]
    origin = first.timestamp()
    edges = _window_edges(fetched_by=fetched_by, period=period, first=first, last=last, origin=origin)
    zones = zone_selectors.zone_list(fetched_by=fetched_by).in_bulk(list(edges))
    out = []
    for zone_id, zone_edges in edges.items():
        zone = zones[zone_id]
        capacity = {"gpu": zone.gpu_capacity, "core": zone.cpu_core_capacity, "memory_gb": zone.memory_gb_capacity}
        rate = dict.fromkeys(_RESOURCES, 0.0)
        running = 0  # windows begun in an earlier bucket and not yet ended
        for bucket_start, bucket_end in bounds:
            key = bucket_start.astimezone(UTC)  # two wall times of the repeated October hour differ here
            began, ended = zone_edges.get((1, key)), zone_edges.get((-1, key))
            if not (running or began):
                continue
            end_at = bucket_end.timestamp() - origin
            # By the instants: a difference of two wall times of one zone skips the DST change.
            length = bucket_end.timestamp() - bucket_start.timestamp()
            entry = {
                "zone": zone,
                "bucket_start": bucket_start,
                "bucket_end": bucket_end,
                "workloads": running + (began["workloads"] if began else 0),
            }
            for resource in _RESOURCES:
                # What ran all through the bucket, plus what began in it from its start, less what
                # ended in it from its end: ∫ rate over the bucket.
                seconds = rate[resource] * length
                if began:
                    seconds += end_at * began[f"{resource}_rate"] - began[f"{resource}_moment"]
                if ended:
                    seconds -= end_at * ended[f"{resource}_rate"] - ended[f"{resource}_moment"]
                    rate[resource] -= ended[f"{resource}_rate"]
                if began:
                    rate[resource] += began[f"{resource}_rate"]
                reserved = Decimal(max(seconds, 0.0) / _SECONDS_PER_HOUR)
                available = capacity[resource] * Decimal(length / _SECONDS_PER_HOUR)
                entry[f"{resource}_hours_reserved"] = reserved.quantize(_CENT)
                entry[f"{resource}_hours_capacity"] = available.quantize(_CENT)
                entry[f"{resource}_utilisation_pct"] = (
                    (reserved * 100 / available).quantize(_CENT) if available else None
                )
            running += (began["workloads"] if began else 0) - (ended["workloads"] if ended else 0)
            out.append(entry)
    out.sort(key=lambda e: (e["bucket_start"], e["zone"].zone_name))
    return out


def _window_edges(
    *, fetched_by: User, period: Period, first: datetime, last: datetime, origin: float
) -> dict[Any, dict[tuple[int, datetime], dict[str, Any]]]:
    """Where the reserving windows begin (kind 1) and end (kind -1), per zone, then per kind and
    bucket (by its UTC start): how many, the sum of their rates (per second of window) and the sum of
    rate × the edge's seconds after ``origin``. One query. The windows are clipped to ``[first,
    last)``: what lies outside the buckets is in none of them."""
    # Typed by hand: the ORM infers no type for a number × a duration, and SQLite's duration
    # arithmetic refuses a PositiveIntegerField.
    minutes = ExpressionWrapper(F("estimated_duration_mins"), output_field=IntegerField())
    length = ExpressionWrapper(minutes * Value(timedelta(minutes=1)), output_field=DurationField())
    windows = (
        workload_selectors.workload_list(fetched_by=fetched_by)
        .filter(status__in=RESERVING, chosen_grid_zone__isnull=False, estimated_duration_mins__gt=0)
        .annotate(start_at=Coalesce("actual_start", "planned_start"))
        .annotate(end_at=ExpressionWrapper(F("start_at") + length, output_field=DateTimeField()))
        .filter(start_at__lt=last, end_at__gt=first)
        .annotate(window_start=Greatest("start_at", Value(first)), window_end=Least("end_at", Value(last)))
        .order_by()
    )
    rates = {
        # GPU-minutes over the window's minutes: the GPUs held on average.
        "gpu": Cast("required_gpu_mins", FloatField()) / F("estimated_duration_mins"),
        "core": Cast("required_cpu_cores", FloatField()),
        "memory_gb": Cast("required_memory_gb", FloatField()),
    }
    # A window ends in the bucket holding its last instant, not the one its end opens.
    last_instant = ExpressionWrapper(F("window_end") - Value(timedelta(microseconds=1)), output_field=DateTimeField())
    kinds = []
    for kind, edge, bucket_of in ((1, "window_start", F("window_start")), (-1, "window_end", last_instant)):
        kinds.append(
            windows.annotate(kind=Value(kind), bucket=period.trunc(bucket_of), edge_at=EpochSeconds(edge) - origin)
            .values("kind", "bucket", "chosen_grid_zone_id")
            .annotate(
                workloads=Count("id"),
                **{f"{name}_rate": Sum(rate) for name, rate in rates.items()},
                **{f"{name}_moment": Sum(rate * F("edge_at")) for name, rate in rates.items()},
            )
        )
    edges: dict[Any, dict[tuple[int, datetime], dict[str, Any]]] = defaultdict(dict)
    for row in kinds[0].union(kinds[1], all=True):
        edges[row["chosen_grid_zone_id"]][(row["kind"], row["bucket"].astimezone(UTC))] = row
    return edges


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
