"""The capacity ledger: what SCHEDULED and RUNNING workloads hold per zone and half hour.

One home for the rule "a zone is never overbooked". Every write here runs inside the transaction of
the workload's transition (``workloads.services._transition``), after ``zone_lock``:

* **PostgreSQL**: ``zone_lock`` is ``SELECT … FOR UPDATE`` on the zone's row, so two assignments
  into one zone queue behind each other — the second reads the holds the first committed — while
  assignments into different zones run side by side. Locks are taken workload row first, then zone
  row (and a recompute's reconciliation takes every zone row in primary-key order), so no two
  transactions wait on each other in a cycle.
* **SQLite**: ``FOR UPDATE`` is a no-op, and none is needed: SQLite runs one write transaction at a
  time and its transactions are serialisable, so of two transactions that read the same holds and
  then write, the second cannot commit on what it read ("database is locked" after the timeout).

A run that covers any part of a half hour holds that half hour whole, as the engine counts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db.models import Sum

from pylon.core.exceptions import ApplicationError, ErrorCode
from workloads.models import CapacityHold, ComputeWorkload
from zones.models import GridZone
from zones.providers.base import HALF_HOUR, floor_half_hour

#: Free capacity may fall short of a need by this much (float noise of GPU-minutes / minutes).
TOLERANCE = 1e-9
#: The resources a zone has, as (hold field, zone capacity field, what people call it).
RESOURCES: tuple[tuple[str, str, str], ...] = (
    ("gpus", "gpu_capacity", "GPUs"),
    ("cpu_cores", "cpu_core_capacity", "CPU cores"),
    ("memory_gb", "memory_gb_capacity", "GB of memory"),
)


class CapacityExceeded(ApplicationError):
    status_code = 409
    code = ErrorCode.CAPACITY_EXCEEDED


@dataclass(frozen=True)
class Needs:
    """What a workload holds in every half hour of its run."""

    gpus: float
    cpu_cores: float
    memory_gb: float

    @classmethod
    def of(cls, workload: ComputeWorkload) -> Needs:
        return cls(
            gpus=float(workload.required_gpu_mins) / workload.estimated_duration_mins,
            cpu_cores=float(workload.required_cpu_cores),
            memory_gb=float(workload.required_memory_gb),
        )


@dataclass(frozen=True)
class Shortfall:
    """One resource a zone lacks for a run: how much is needed and the least free, in which half hours."""

    resource: str
    label: str
    needed: float
    least_free: float
    slots: tuple[datetime, ...]

    def sentence(self) -> str:
        first, last = self.slots[0], self.slots[-1] + HALF_HOUR
        return (
            f"{_amount(self.needed)} {self.label} needed, at most {_amount(max(self.least_free, 0.0))} free in "
            f"{len(self.slots)} half hour(s) between {_fmt(first)} and {_fmt(last)}."
        )


def _amount(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _fmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def run_slots(start: datetime, end: datetime) -> list[datetime]:
    """Every half hour that ``[start, end)`` touches."""
    slot, slots = floor_half_hour(start), []
    while slot < end:
        slots.append(slot)
        slot += HALF_HOUR
    return slots


def zone_lock(zone_id) -> GridZone:
    """Lock the zone's row for the rest of the transaction and read its capacity as it is now."""
    return GridZone.objects.select_for_update().get(pk=zone_id)


def zones_lock_all() -> None:
    """Lock every zone's row, in primary-key order (the order every multi-zone lock takes): the
    recompute's reconciliation runs alone, and no assignment changes the ledger meanwhile."""
    list(GridZone.objects.select_for_update().order_by("pk").values_list("pk", flat=True))


def held_by_slot(*, zone_id, slots: Sequence[datetime], excluding=None) -> dict[datetime, dict[str, float]]:
    """What the zone's holds add up to in each of ``slots`` (one query), leaving out one workload's."""
    holds = CapacityHold.objects.filter(zone_id=zone_id, slot_start__in=list(slots))
    if excluding is not None:
        holds = holds.exclude(workload_id=excluding)
    rows = holds.order_by().values("slot_start").annotate(**{name: Sum(name) for name, _, _ in RESOURCES})
    return {row["slot_start"]: {name: row[name] or 0.0 for name, _, _ in RESOURCES} for row in rows}


def shortfalls(*, zone: GridZone, start: datetime, end: datetime, needs: Needs, excluding=None) -> list[Shortfall]:
    """The resources ``zone`` lacks to hold ``needs`` over ``[start, end)`` besides what is held there
    already (``excluding`` one workload's own holds, for a reassignment). Empty when the run fits."""
    slots = run_slots(start, end)
    held = held_by_slot(zone_id=zone.pk, slots=slots, excluding=excluding)
    found = []
    for name, capacity_field, label in RESOURCES:
        need = getattr(needs, name)
        if need <= 0:
            continue
        capacity = float(getattr(zone, capacity_field))
        free = {slot: capacity - held.get(slot, {}).get(name, 0.0) for slot in slots}
        short = tuple(slot for slot in slots if free[slot] < need - TOLERANCE)
        if short:
            found.append(Shortfall(name, label, need, min(free[slot] for slot in short), short))
    return found


def capacity_exceeded(zone: GridZone, found: Sequence[Shortfall]) -> CapacityExceeded:
    sentences = [shortfall.sentence() for shortfall in found]
    return CapacityExceeded(
        f"{zone.zone_name} cannot hold this workload for its whole run: " + " ".join(sentences),
        fields={"zone": sentences},
    )


def override_note(zone: GridZone, found: Sequence[Shortfall]) -> str:
    """The event log's record of an assignment an operator forced past capacity."""
    return f"Assigned over {zone.zone_name}'s capacity: " + " ".join(s.sentence() for s in found)


def hold(*, workload: ComputeWorkload, zone_id, start: datetime, end: datetime) -> None:
    """Replace whatever ``workload`` held with ``[start, end)`` in ``zone_id`` (the zone locked)."""
    release(workload_ids=[workload.pk])
    needs = Needs.of(workload)
    CapacityHold.objects.bulk_create(
        CapacityHold(
            workload_id=workload.pk,
            zone_id=zone_id,
            slot_start=slot,
            gpus=needs.gpus,
            cpu_cores=needs.cpu_cores,
            memory_gb=needs.memory_gb,
        )
        for slot in run_slots(start, end)
    )


def release(*, workload_ids: Iterable) -> None:
    """Give back everything these workloads hold (they ended, or are about to hold anew)."""
    CapacityHold.objects.filter(workload_id__in=list(workload_ids)).delete()


def peak_held(*, zone_id, since: datetime) -> dict[str, tuple[float, datetime | None]]:
    """The most each resource is held in any half hour of the zone from ``since`` on, and when."""
    rows = (
        CapacityHold.objects.filter(zone_id=zone_id, slot_start__gte=floor_half_hour(since))
        .order_by()
        .values("slot_start")
        .annotate(**{name: Sum(name) for name, _, _ in RESOURCES})
    )
    peak: dict[str, tuple[float, datetime | None]] = {name: (0.0, None) for name, _, _ in RESOURCES}
    for row in rows:
        for name, _, _ in RESOURCES:
            if (row[name] or 0.0) > peak[name][0]:
                peak[name] = (row[name], row["slot_start"])
    return peak


def capacity_change_check(*, zone: GridZone, data: dict, now: datetime) -> None:
    """Refuse (400, naming what is held and when) to lower a zone's capacity below what its scheduled
    and running work holds from ``now`` on; the zone is locked, so no assignment slips in between.

    Refused rather than flagging the workloads: a lowered capacity with work held above it would be
    an overbooked zone the moment it is saved. The operator reassigns or cancels work first (or
    lowers it from when that work has ended)."""
    lowered = [
        (name, field, label)
        for name, field, label in RESOURCES
        if field in data and data[field] is not None and data[field] < getattr(zone, field)
    ]
    if not lowered:
        return
    zone_lock(zone.pk)
    peak = peak_held(zone_id=zone.pk, since=now)
    errors = {}
    for name, field, label in lowered:
        most, when = peak[name]
        if data[field] < most - TOLERANCE:
            errors[field] = [
                f"Scheduled and running work holds {_amount(most)} {label} here at {_fmt(when)}: lower it to "
                f"{_amount(most)} at the least, or reassign that work first."
            ]
    if errors:
        raise ValidationError(errors)


def held_in_grid(*, start: datetime, end: datetime) -> list[tuple]:
    """(zone id, half hour, gpus, cores, memory) summed over every zone's holds in ``[start, end)``."""
    return list(
        CapacityHold.objects.filter(slot_start__gte=floor_half_hour(start), slot_start__lt=end)
        .order_by()
        .values_list("zone_id", "slot_start")
        .annotate(*(Sum(name) for name, _, _ in RESOURCES))
    )
