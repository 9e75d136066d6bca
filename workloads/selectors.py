"""Reads for compute workloads. Who sees which workload is decided here, once:

- a user sees their own workloads;
- an operator sees every workload of their organisation;
- the service role sees everything.

Every view, the admin and the other apps' reads go through ``workload_list``.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Exists, Min, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import User
from scheduling import engine
from workloads.models import (
    CapacityHold,
    CapacityOverbooking,
    ComputeWorkload,
    WorkloadEvent,
    WorkloadStatus,
)
from workloads.state_machine import TRANSITIONS
from zones import selectors as zone_selectors
from zones.models import GridZone
from zones.providers.bands import zone_band
from zones.providers.base import HALF_HOUR, floor_half_hour

RECENT_WORKLOADS = 4


def workload_scope(*, fetched_by: User) -> dict[str, Any]:
    """The column lookups that bound what ``fetched_by`` (signed in) sees: none for the service role,
    the organisation for an operator, the owner for anyone else. ``workload_list`` is exactly these
    on top of a fixed query, so its SQL differs between callers only by which columns are named here
    and their values (what ``pylon.db.compiled`` relies on)."""
    if fetched_by.is_service_role:
        return {}
    if fetched_by.is_operator and fetched_by.organization_id:
        return {"organization_id": fetched_by.organization_id}
    return {"user_id": fetched_by.pk}


def workload_list(*, fetched_by: User) -> QuerySet[ComputeWorkload]:
    """The workloads ``fetched_by`` may see, with what the list and detail views show joined in."""
    if not fetched_by.is_authenticated:
        return ComputeWorkload.objects.none()
    return ComputeWorkload.objects.filter(**workload_scope(fetched_by=fetched_by)).select_related(
        "user",
        "host_dc",
        "chosen_grid_zone",
        "recommended_grid_zone",
        "recommended_2_grid_zone",
        "recommended_3_grid_zone",
    )


def zone_mean_figures(*, zone: GridZone, start: datetime, end: datetime) -> tuple[Decimal, Decimal]:
    """Time-weighted mean carbon intensity (gCO2/kWh) and price (GBP/kWh) of ``zone`` over
    ``[start, end)``, as ``Decimal``s: what a run there in that period is accounted at.

    The engine's accounting rule (``engine.time_weighted_mean``), with the zone's current figures
    for each half hour no series covers (and for an empty period).
    """
    if end <= start:
        return zone.carbon_intensity, zone.energy_price
    slots = min(math.ceil((end - floor_half_hour(start)) / HALF_HOUR), zone_selectors.MAX_GRID_SLOTS)
    grid = zone_selectors.intensity_grid(zones=[zone], start=floor_half_hour(start), slots=slots)
    first = (start - grid.start) / HALF_HOUR
    last = min((end - grid.start) / HALF_HOUR, slots)
    intensity = engine.time_weighted_mean(grid.intensity[0], first, last, fallback=float(zone.carbon_intensity))
    price = engine.time_weighted_mean(grid.price[0], first, last, fallback=float(zone.energy_price))
    return Decimal(f"{intensity:.2f}"), Decimal(f"{price:.4f}")


def workload_for_notification(*, workload_id) -> ComputeWorkload | None:
    """One workload with its owner and zones, whoever asks: for telling its owner about it (the
    owner is the only reader of what is written), never for answering a caller."""
    return ComputeWorkload.objects.select_related("user", "chosen_grid_zone", "host_dc").filter(pk=workload_id).first()


def workload_is_operable_by(*, workload: ComputeWorkload, user: User) -> bool:
    """Whether ``user`` may run ``workload``'s lifecycle (assign, start, complete, fail): the
    service role, or an operator of its organisation."""
    return user.operates(workload.organization_id)


def workload_actions_available(*, workload: ComputeWorkload, user: User) -> list[str]:
    """The lifecycle actions ``user`` may take on ``workload`` now, in the state machine's order:
    what the operators' console offers. The services check it all again on the locked row."""
    if not workload_is_operable_by(workload=workload, user=user):
        return []
    return [action for action, (sources, _) in TRANSITIONS.items() if workload.status in sources]


def workload_events(*, workload: ComputeWorkload) -> QuerySet[WorkloadEvent]:
    return WorkloadEvent.objects.filter(workload=workload).select_related("actor").order_by("created_at", "id")


def carbon_level(workload: ComputeWorkload) -> str | None:
    """The NESO index band of the intensity the run really had (emissions over energy) in its zone,
    by the zones' one band rule (the boundaries of the year it ran)."""
    energy = workload.energy_kwh
    if workload.carbon_emitted_kg is None or not energy or workload.chosen_grid_zone is None:
        return None
    return zone_band(
        neso_region_id=workload.chosen_grid_zone.neso_region_id,
        intensity=float(workload.carbon_emitted_kg * 1000 / energy),
        at=workload.actual_end or workload.submitted_at,
    )


def workload_stats(*, fetched_by: User, now: datetime | None = None) -> dict[str, Any]:
    """Dashboard figures over the workloads the caller sees (three queries, whatever the count; an
    operator's two more: the members and their figures).

    Savings are over COMPLETED workloads: ``baseline − actual``, where the baseline is the same
    energy run at once, on submission, in the host zone. An operator also gets the organisation's
    figures per member and the queue (PENDING workloads: how many, and how long the oldest has waited).
    """
    now = now or timezone.now()
    workloads = workload_list(fetched_by=fetched_by)
    by_status = {status: 0 for status in WorkloadStatus.values}
    oldest_pending = None
    for row in workloads.order_by().values("status").annotate(n=Count("id"), oldest=Min("submitted_at")):
        by_status[row["status"]] = row["n"]
        if row["status"] == WorkloadStatus.PENDING:
            oldest_pending = row["oldest"]
    completed = workloads.filter(status=WorkloadStatus.COMPLETED)
    sums = _savings(completed.order_by().aggregate(**_savings_sums()))
    recent = list(workloads.order_by("-submitted_at")[:RECENT_WORKLOADS])
    stats = {
        "counts_by_status": by_status,
        "total": sum(by_status.values()),
        "active": by_status[WorkloadStatus.RUNNING],
        "queued": by_status[WorkloadStatus.PENDING] + by_status[WorkloadStatus.SCHEDULED],
        "completed": by_status[WorkloadStatus.COMPLETED],
        "carbon_emitted_kg": sums["carbon_emitted_kg"],
        "carbon_saved_kg": sums["carbon_saved_kg"],
        "cost_gbp": sums["cost_gbp"],
        "cost_saved_gbp": sums["cost_saved_gbp"],
        "recent": [{"workload": w, "carbon_level": carbon_level(w)} for w in recent],
        "members": None,
        "queue": None,
    }
    if fetched_by.is_operator and fetched_by.organization_id:
        stats["members"] = _member_figures(fetched_by=fetched_by, workloads=workloads)
        stats["queue"] = {
            "length": by_status[WorkloadStatus.PENDING],
            "oldest_submitted_at": oldest_pending,
            "oldest_wait_minutes": None
            if oldest_pending is None
            else max(0, int((now - oldest_pending).total_seconds() // 60)),
        }
    return stats


def _member_figures(*, fetched_by: User, workloads: QuerySet[ComputeWorkload]) -> list[dict[str, Any]]:
    """Per member of the operator's organisation (those without workloads too): workloads, and over
    the COMPLETED ones emissions and carbon saved. Two queries."""
    done = Q(status=WorkloadStatus.COMPLETED)
    figures = {
        row["user_id"]: row
        for row in workloads.order_by()
        .values("user_id")
        .annotate(
            n=Count("id"),
            emitted=Sum("carbon_emitted_kg", filter=done),
            baseline=Sum("baseline_carbon_kg", filter=done),
        )
    }
    members = account_selectors.user_list(fetched_by=fetched_by).filter(organization_id=fetched_by.organization_id)
    zero = Decimal(0)
    rows = []
    for member in members.order_by("user_name", "email"):
        row = figures.get(member.pk, {})
        emitted = row.get("emitted") or zero
        rows.append(
            {
                "user": member,
                "workloads": row.get("n", 0),
                "carbon_emitted_kg": emitted,
                "carbon_saved_kg": (row.get("baseline") or zero) - emitted,
            }
        )
    return rows


_SUMMED = ("carbon_emitted_kg", "baseline_carbon_kg", "cost_gbp", "baseline_cost_gbp")


def _savings_sums(prefix: str = "", only: Q | None = None) -> dict[str, Any]:
    """The aggregates the savings are made of (of the rows ``only`` selects), named with ``prefix``."""
    return {
        f"{prefix}completed": Count("id", filter=only),
        **{f"{prefix}{name}": Sum(name, filter=only) for name in _SUMMED},
    }


def _savings(sums: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """What was emitted and spent, and saved against the host-now baseline (``baseline − actual``)."""
    zero = Decimal(0)
    emitted, baseline_carbon, cost, baseline_cost = (sums[f"{prefix}{name}"] or zero for name in _SUMMED)
    return {
        "completed": sums[f"{prefix}completed"],
        "carbon_emitted_kg": emitted,
        "carbon_saved_kg": baseline_carbon - emitted,
        "cost_gbp": cost,
        "cost_saved_gbp": baseline_cost - cost,
    }


@dataclass(frozen=True)
class WeekSavings:
    """The runs completed in one week (Monday 00:00 to Monday 00:00, local time) and their savings."""

    start: datetime
    completed: int
    carbon_emitted_kg: Decimal
    carbon_saved_kg: Decimal
    cost_gbp: Decimal
    cost_saved_gbp: Decimal


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 (in the current time zone) of the week containing ``moment``."""
    local = timezone.localtime(moment)
    monday = local.date() - timedelta(days=local.weekday())
    return timezone.make_aware(datetime.combine(monday, time.min))


def workload_savings_by_week(*, fetched_by: User, weeks: int = 8, now: datetime | None = None) -> list[WeekSavings]:
    """The last ``weeks`` weeks (oldest first, the current one last) of the caller's completed runs,
    by when they ended, with the same savings rule as ``workload_stats``. One query."""
    this_week = week_start(now or timezone.now())
    starts = [week_start(this_week - timedelta(days=7 * back - 3)) for back in range(weeks - 1, -1, -1)]
    ends = [*starts[1:], week_start(this_week + timedelta(days=10))]
    sums: dict[str, Any] = {}
    for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
        sums |= _savings_sums(f"w{index}_", Q(actual_end__gte=start, actual_end__lt=end))
    completed = workload_list(fetched_by=fetched_by).filter(
        status=WorkloadStatus.COMPLETED, actual_end__gte=starts[0], actual_end__lt=ends[-1]
    )
    figures = completed.order_by().aggregate(**sums)
    return [WeekSavings(start=start, **_savings(figures, f"w{index}_")) for index, start in enumerate(starts)]


def workload_zone_figures(*, fetched_by: User, zone_ids: Iterable[Any]) -> dict[Any, dict[str, Any]]:
    """Per zone of ``zone_ids``, over the workloads the caller sees there: RUNNING count, total
    count, total energy (kWh, measured else estimated) and average emissions (kg, over runs that
    have them); zero counts where there are none. One query. Users get their own figures only;
    operators their organisation's; the service role everyone's."""
    rows = (
        workload_list(fetched_by=fetched_by)
        .filter(chosen_grid_zone__isnull=False)
        .order_by()
        .values("chosen_grid_zone_id")
        .annotate(
            running_count=Count("id", filter=Q(status=WorkloadStatus.RUNNING)),
            total_count=Count("id"),
            measured_energy=Sum("actual_energy_kwh"),
            estimated_energy=Sum("estimated_energy_kwh", filter=Q(actual_energy_kwh__isnull=True)),
            average_carbon_kg=Avg("carbon_emitted_kg"),
        )
    )
    found = {
        row["chosen_grid_zone_id"]: {
            "running_count": row["running_count"],
            "total_count": row["total_count"],
            "total_energy_kwh": (row["measured_energy"] or Decimal(0)) + (row["estimated_energy"] or Decimal(0)),
            "average_carbon_kg": row["average_carbon_kg"],
        }
        for row in rows
    }
    empty = {"running_count": 0, "total_count": 0, "total_energy_kwh": Decimal(0), "average_carbon_kg": None}
    return {zone_id: found.get(zone_id, empty) for zone_id in zone_ids}


def workload_list_owned(*, owner: User) -> QuerySet[ComputeWorkload]:
    """The workloads ``owner`` submitted (not those they see as an operator): their personal data."""
    return workload_list(fetched_by=owner).filter(user=owner).order_by("submitted_at", "id")


def workload_events_owned(*, owner: User) -> QuerySet[WorkloadEvent]:
    """The events of ``owner``'s workloads and the events they caused (as an operator too)."""
    return (
        WorkloadEvent.objects.filter(Q(workload__user=owner) | Q(actor=owner))
        .select_related("actor")
        .order_by("created_at", "id")
    )


# -- half hours flagged as held over capacity ------------------------------------------------------


def _holds_there(*, fetched_by: User) -> QuerySet[CapacityHold]:
    """The holds of the work ``fetched_by`` sees, in the flagged half hour of the outer row."""
    return CapacityHold.objects.filter(
        zone_id=OuterRef("zone_id"),
        slot_start=OuterRef("slot_start"),
        workload__in=workload_list(fetched_by=fetched_by).values("pk"),
    )


def overbooking_list(*, fetched_by: User) -> QuerySet[CapacityOverbooking]:
    """The flagged half hours (``workloads.overbooking``) ``fetched_by`` may see: every one for the
    service role, those holding their organisation's work for an operator (zones are shared; whose
    work is held is not), none for anyone else."""
    flagged = CapacityOverbooking.objects.select_related("zone")
    if fetched_by.is_service_role:
        return flagged
    if fetched_by.is_operator and fetched_by.organization_id:
        return flagged.filter(Exists(_holds_there(fetched_by=fetched_by)))
    return flagged.none()


def overbooking_filter_held(
    overbookings: QuerySet[CapacityOverbooking], *, fetched_by: User, organization_id=None, job_id: str | None = None
) -> QuerySet[CapacityOverbooking]:
    """Those of ``overbookings`` where work ``fetched_by`` sees is held: of ``organization_id``, and
    whose job id contains ``job_id``, when given."""
    holds = _holds_there(fetched_by=fetched_by)
    if organization_id is not None:
        holds = holds.filter(workload__organization_id=organization_id)
    if job_id:
        holds = holds.filter(workload__job_id__icontains=job_id)
    return overbookings.filter(Exists(holds))


def overbooking_held_work(overbookings: Iterable[CapacityOverbooking], *, fetched_by: User) -> dict[tuple, list[str]]:
    """The job ids ``fetched_by`` sees held in each of ``overbookings``, by (zone id, half hour):
    one query however many rows."""
    keys = {(row.zone_id, row.slot_start) for row in overbookings}
    if not keys:
        return {}
    held = (
        CapacityHold.objects.filter(
            workload__in=workload_list(fetched_by=fetched_by).values("pk"),
            zone_id__in={zone_id for zone_id, _ in keys},
            slot_start__in={slot for _, slot in keys},
        )
        .order_by("workload__job_id")
        .values_list("zone_id", "slot_start", "workload__job_id")
    )
    work: dict[tuple, list[str]] = {key: [] for key in keys}
    for zone_id, slot_start, job_id in held:
        if (zone_id, slot_start) in work:
            work[(zone_id, slot_start)].append(job_id)
    return work
