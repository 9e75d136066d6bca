"""The capacity ledger: what SCHEDULED and RUNNING workloads hold per zone and half hour.

One home for the rule "a zone is never overbooked". Every write here runs inside the transaction of
the workload's transition (``workloads.services._transition``), after ``zones_lock``:

* **PostgreSQL**: ``zones_lock`` is ``SELECT … FOR UPDATE`` on the zones' rows, so two assignments
  into one zone queue behind each other — the second reads the holds the first committed — while
  assignments into different zones run side by side. Locks are taken workload row(s) first, then
  zone rows in primary-key order (a reassignment locks its old and new zone, a recompute's
  reconciliation every zone), so no two transactions wait on each other in a cycle. The one write
  against that order, ``holds_roll`` (zones locked, then the rows of the workloads whose holds move),
  skips a row another transaction holds instead of waiting for it.
* **SQLite**: ``FOR UPDATE`` is a no-op, and none is needed: every transaction begins ``IMMEDIATE``
  (``pylon.settings``), so write transactions run one at a time, each reading what the one before
  committed; a second waits for the first (up to the busy timeout) instead of failing.

A run that covers any part of a half hour holds that half hour whole, as the engine counts it.

Some holds move with the clock (``holds_roll``, run under the zones' locks before every check and
periodically by ``workloads.tasks.capacity_holds_roll``): a SCHEDULED workload not started by the
end of its planned start's half hour holds its whole run from now (it may start at any moment; the
half hours behind it are released), and a RUNNING one past its estimated end holds every half hour
until it ends. Time is not an assignment, so these are not refused: where they take a zone past its
capacity, the next start or assignment there is refused (409), the operators of the work held there
are told (``workloads.overbooking``) and decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Max, Min, Q, Sum

from pylon.core.exceptions import ApplicationError, ErrorCode
from workloads.models import CapacityHold, ComputeWorkload, WorkloadStatus
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
            f"{amount(self.needed)} {self.label} needed, at most {amount(max(self.least_free, 0.0))} free in "
            f"{len(self.slots)} half hour(s) between {fmt_utc(first)} and {fmt_utc(last)}."
        )


def amount(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def fmt_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def run_slots(start: datetime, end: datetime) -> list[datetime]:
    """Every half hour that ``[start, end)`` touches."""
    slot, slots = floor_half_hour(start), []
    while slot < end:
        slots.append(slot)
        slot += HALF_HOUR
    return slots


def zones_lock(zone_ids: Iterable | None, *, now: datetime) -> dict:
    """Lock these zones' rows (every zone when None) for the rest of the transaction, in primary-key
    order — the one order every lock of several zones takes, so two transactions locking the same
    zones never wait on each other in a cycle — and bring their moving holds up to ``now``
    (``holds_roll``). Returns the zones by primary key, their capacity as it is now."""
    zones = GridZone.objects.select_for_update().order_by("pk")
    if zone_ids is not None:
        zones = zones.filter(pk__in={zone_id for zone_id in zone_ids if zone_id is not None})
    locked = {zone.pk: zone for zone in zones}
    holds_roll(now=now, zone_ids=None if zone_ids is None else list(locked))
    return locked


def zones_held(*, workload_id) -> list:
    """The zones ``workload_id`` holds capacity in (one, or none)."""
    return list(CapacityHold.objects.filter(workload_id=workload_id).values_list("zone_id", flat=True).distinct())


def zone_lock(zone_id, *, now: datetime) -> GridZone:
    """``zones_lock`` of one zone."""
    return zones_lock([zone_id], now=now)[zone_id]


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


def override_note(zone: GridZone, found: Sequence[Shortfall], *, what: str = "Assigned") -> str:
    """The event log's record of an assignment (or start) an operator forced past capacity."""
    return f"{what} over {zone.zone_name}'s capacity: " + " ".join(s.sentence() for s in found)


def hold(*, workload: ComputeWorkload, zone_id, start: datetime, end: datetime) -> None:
    """Replace whatever ``workload`` held with ``[start, end)`` in ``zone_id`` (the zone locked)."""
    release(workload_ids=[workload.pk])
    CapacityHold.objects.bulk_create(_holds(workload, zone_id, run_slots(start, end)))


def _holds(workload: ComputeWorkload, zone_id, slots: Iterable[datetime]) -> list[CapacityHold]:
    needs = Needs.of(workload)
    return [
        CapacityHold(
            workload_id=workload.pk,
            zone_id=zone_id,
            slot_start=slot,
            gpus=needs.gpus,
            cpu_cores=needs.cpu_cores,
            memory_gb=needs.memory_gb,
        )
        for slot in slots
    ]


def release(*, workload_ids: Iterable) -> None:
    """Give back everything these workloads hold (they ended, or are about to hold anew)."""
    CapacityHold.objects.filter(workload_id__in=list(workload_ids)).delete()


def capacity_change_check(*, zone: GridZone, data: dict, now: datetime) -> None:
    """Refuse (409 ``capacity_exceeded``) to lower a zone's capacity below what its scheduled and
    running work holds from the current half hour on, naming the half hours and the work held in
    them; the zone stays locked until the caller commits, so no assignment slips in between.

    Refused rather than flagging the workloads: a lowered capacity with work held above it would be
    an overbooked zone the moment it is saved. The operator reassigns or cancels that work first."""
    lowered = [
        (name, field, label)
        for name, field, label in RESOURCES
        if field in data and data[field] is not None and data[field] < getattr(zone, field)
    ]
    if not lowered:
        return
    zone_lock(zone.pk, now=now)
    by_slot = _held_since(zone_id=zone.pk, since=now)
    errors = {}
    for name, field, label in lowered:
        over = sorted(slot for slot, held in by_slot.items() if held[name] > float(data[field]) + TOLERANCE)
        if not over:
            continue
        most = max(by_slot[slot][name] for slot in over)
        holders = (
            CapacityHold.objects.filter(zone_id=zone.pk, slot_start__in=over, **{f"{name}__gt": 0})
            .order_by("workload__job_id")
            .values_list("workload__job_id", flat=True)
            .distinct()
        )
        errors[field] = [
            f"Scheduled and running work holds up to {amount(most)} {label} here in {len(over)} half hour(s) "
            f"between {fmt_utc(over[0])} and {fmt_utc(over[-1] + HALF_HOUR)} ({', '.join(holders)}): lower it to "
            f"{amount(most)} at the least, or reassign or cancel that work first."
        ]
    if errors:
        raise CapacityExceeded(
            f"{zone.zone_name}'s capacity cannot be lowered below what is held there: "
            + " ".join(message for messages in errors.values() for message in messages),
            fields=errors,
        )


def _held_since(*, zone_id, since: datetime) -> dict[datetime, dict[str, float]]:
    """What the zone's holds add up to in each half hour from the one containing ``since`` on."""
    rows = (
        CapacityHold.objects.filter(zone_id=zone_id, slot_start__gte=floor_half_hour(since))
        .order_by()
        .values("slot_start")
        .annotate(**{name: Sum(name) for name, _, _ in RESOURCES})
    )
    return {row["slot_start"]: {name: row[name] or 0.0 for name, _, _ in RESOURCES} for row in rows}


#: What ``holds_roll`` reads of a workload (its window and its needs).
MOVING_FIELDS = (
    "status",
    "chosen_grid_zone_id",
    "planned_start",
    "actual_start",
    "estimated_duration_mins",
    "required_gpu_mins",
    "required_cpu_cores",
    "required_memory_gb",
)


def holds_roll(*, now: datetime, zone_ids: Sequence | None = None) -> int:
    """Bring the holds that move with the clock up to ``now`` in these zones (every zone when None;
    the caller has them locked — ``zones_lock`` does this itself). Returns how many workloads' holds
    moved. Two queries when nothing moves.

    * A SCHEDULED workload whose planned start's half hour has passed without a start holds its whole
      run as if it started now, ``[now, now + duration)``; the half hours behind now are released.
      (Within that first half hour its planned holds stand: starting a little late is the norm.)
    * A RUNNING workload holds every half hour from its real start to the end of its estimate, or
      to now while it runs past it.
    """
    current = floor_half_hour(now)
    moving = ComputeWorkload.objects.filter(
        Q(status=WorkloadStatus.SCHEDULED, planned_start__lt=current) | Q(status=WorkloadStatus.RUNNING),
        chosen_grid_zone__isnull=False,
    )
    if zone_ids is not None:
        moving = moving.filter(chosen_grid_zone_id__in=list(zone_ids))
    # The zones are locked before these rows, against the usual order (workload, then zone): so a row
    # another transaction holds is skipped, not waited for — that transition writes its holds itself
    # (a start holds, an end releases), and the next roll sees the outcome. NO KEY: the holds written
    # here (and others' events) only take key-share locks on it.
    moving = moving.select_for_update(skip_locked=True, no_key=True)
    workloads = list(moving.order_by("pk").only(*MOVING_FIELDS))
    if not workloads:
        return 0
    span = dict(
        (pk, (first, last))
        for pk, first, last in CapacityHold.objects.filter(workload__in=workloads)
        .order_by()
        .values("workload_id")
        .annotate(first=Min("slot_start"), last=Max("slot_start"))
        .values_list("workload_id", "first", "last")
    )
    behind, ahead = [], []
    for workload in workloads:
        duration = timedelta(minutes=workload.estimated_duration_mins)
        if workload.status == WorkloadStatus.SCHEDULED:
            wanted = run_slots(now, now + duration)
        else:
            started = workload.actual_start or now
            wanted = run_slots(started, max(started + duration, now))
        first, last = span.get(workload.pk, (None, None))
        if first == wanted[0] and last == wanted[-1]:
            continue  # its holds are contiguous by construction, so the ends say it all
        if workload.status == WorkloadStatus.SCHEDULED:
            behind.append(Q(workload_id=workload.pk, slot_start__lt=wanted[0]))
        ahead.extend(_holds(workload, workload.chosen_grid_zone_id, wanted))
    moved = len(behind) + len({hold.workload_id for hold in ahead})
    if behind:
        query = behind[0]
        for condition in behind[1:]:
            query |= condition
        CapacityHold.objects.filter(query).delete()
    CapacityHold.objects.bulk_create(ahead, ignore_conflicts=True, batch_size=1000)
    return moved


def holds_roll_everywhere(*, now: datetime) -> list[tuple]:
    """Every zone locked and its moving holds brought up to ``now``, in one short transaction (the
    periodic task's; checks do it for their own zones). Returns ``overbooked`` from now on."""
    with transaction.atomic():
        zones_lock(None, now=now)
        return overbooked(since=now)


def overbooked(*, since: datetime, zone_ids: Sequence | None = None) -> list[tuple]:
    """(zone id, half hour, resource, held, capacity) wherever the ledger holds more than a zone has
    from ``since`` on (in these zones; every zone when None): runs that overran or started late, and
    operators' overrides. Two queries."""
    zones = GridZone.objects.all() if zone_ids is None else GridZone.objects.filter(pk__in=list(zone_ids))
    capacity_of = {zone.pk: zone for zone in zones}
    found = []
    until = datetime.max.replace(tzinfo=UTC)
    for zone_id, slot_start, *sums in held_in_grid(start=since, end=until, zone_ids=zone_ids):
        zone = capacity_of[zone_id]
        for (name, capacity_field, _), held in zip(RESOURCES, sums, strict=True):
            if (held or 0.0) > float(getattr(zone, capacity_field)) + TOLERANCE:
                found.append((zone_id, slot_start, name, held, float(getattr(zone, capacity_field))))
    return found


def held_in_grid(*, start: datetime, end: datetime, zone_ids: Sequence | None = None) -> list[tuple]:
    """(zone id, half hour, gpus, cores, memory) summed over the zones' holds (every zone's when
    None) in ``[start, end)``."""
    holds = CapacityHold.objects.filter(slot_start__gte=floor_half_hour(start), slot_start__lt=end)
    if zone_ids is not None:
        holds = holds.filter(zone_id__in=list(zone_ids))
    return list(
        holds.order_by().values_list("zone_id", "slot_start").annotate(*(Sum(name) for name, _, _ in RESOURCES))
    )
