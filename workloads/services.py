"""Writes for compute workloads: submission, owner edits and the lifecycle actions.

Who may *see* a workload is decided by ``selectors.workload_list``; the views look workloads up
through it, so a workload that reaches a service here is already visible to the caller. The
services then decide who may *change* it (403) and whether the state machine allows it (409).
"""

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from accounts.models import User
from accounts.services import user_require_verified_email
from outbox import services as outbox
from outbox.models import EventType
from pylon.core.exceptions import ApplicationError, ErrorCode
from pylon.services import model_update
from scheduling.engine import estimate_energy_kwh
from workloads import capacity, overbooking, selectors, signals
from workloads.models import (
    DEFAULT_DURATION_MINS,
    ComputeWorkload,
    WorkloadEvent,
    WorkloadStatus,
)
from workloads.state_machine import ConcurrentUpdate, WorkloadAction, next_status
from zones.models import GridZone

#: The fields a user owns and may write (on submit, and while the workload is PENDING).
USER_FIELDS = (
    "workload_name",
    "workload_type",
    "urgency",
    "host_dc",
    "required_gpu_mins",
    "required_cpu_cores",
    "required_memory_gb",
    "estimated_energy_kwh",
    "estimated_duration_mins",
    "carbon_cap_gco2",
    "max_price_gbp",
    "deferral_window_mins",
    "deadline",
    "is_deferrable",
)

#: The statuses that hold capacity in the ledger (``workloads.capacity``).
HOLDING_STATUSES = (WorkloadStatus.SCHEDULED, WorkloadStatus.RUNNING)

JOB_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class WorkloadNotEditable(ApplicationError):
    status_code = 409
    code = ErrorCode.NOT_EDITABLE


def _new_job_id(now: datetime) -> str:
    suffix = "".join(secrets.choice(JOB_ID_ALPHABET) for _ in range(6))
    return f"JOB-{now:%Y%m%d}-{suffix}"


def workload_default_duration_mins(*, required_gpu_mins: Decimal | None) -> int:
    """A run length when none is given: the GPU-minutes on one GPU, else an hour."""
    gpu_mins = required_gpu_mins or Decimal(0)
    return max(1, int(gpu_mins)) if gpu_mins > 0 else DEFAULT_DURATION_MINS


def _validate_timing(workload: ComputeWorkload, *, now: datetime) -> None:
    """The deadline leaves room for the run, and the deferral window fits before it."""
    errors: dict[str, list[str]] = {}
    duration = timedelta(minutes=workload.estimated_duration_mins)
    if workload.deadline is not None:
        if workload.deadline <= now:
            errors["deadline"] = ["The deadline must be in the future."]
        elif workload.deadline < now + duration:
            errors["deadline"] = [
                f"The deadline leaves less than the estimated duration of {workload.estimated_duration_mins} "
                "minutes from now."
            ]
        elif workload.is_deferrable and now + timedelta(minutes=workload.deferral_window_mins) + duration > (
            workload.deadline
        ):
            errors["deferral_window_mins"] = [
                "Deferring this long would leave no room for the run before the deadline: at most "
                f"{int((workload.deadline - now - duration).total_seconds() // 60)} minutes."
            ]
    if errors:
        raise ValidationError(errors)


def _record(workload: ComputeWorkload, *, action: str, actor: User | None, from_status: str | None, note: str = ""):
    return WorkloadEvent.objects.create(
        workload=workload,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=workload.status,
        note=note,
    )


#: The event each lifecycle action records in the outbox.
ACTION_EVENTS = {
    WorkloadAction.ASSIGN: EventType.WORKLOAD_ASSIGNED,
    WorkloadAction.REASSIGN: EventType.WORKLOAD_ASSIGNED,
    WorkloadAction.START: EventType.WORKLOAD_STARTED,
    WorkloadAction.COMPLETE: EventType.WORKLOAD_COMPLETED,
    WorkloadAction.FAIL: EventType.WORKLOAD_FAILED,
    WorkloadAction.CANCEL: EventType.WORKLOAD_CANCELLED,
}
#: What Pylon records as a workload is scheduled, run and accounted (read-only to every client).
RESULT_FIELDS = (
    "recommended_grid_zone",
    "recommended_2_grid_zone",
    "recommended_3_grid_zone",
    "chosen_grid_zone",
    "planned_start",
    "actual_energy_kwh",
    "carbon_emitted_kg",
    "cost_gbp",
    "baseline_carbon_kg",
    "baseline_cost_gbp",
    "submitted_at",
    "actual_start",
    "actual_end",
    "updated_at",
)
#: What an event's payload says of its workload, as of the event: every column of the public
#: representation (the API's ``ComputeWorkload``; relations as their ids, the owner as ``user``).
SNAPSHOT_FIELDS = ("id", "job_id", "user", "organization", "status", *USER_FIELDS, *RESULT_FIELDS)
_SNAPSHOT_COLUMNS = {name: ComputeWorkload._meta.get_field(name).attname for name in SNAPSHOT_FIELDS}


def _snapshot_value(value: Any) -> Any:
    # Times keep their microseconds (the log's JSON encoder would cut them to milliseconds).
    return value.isoformat() if isinstance(value, datetime) else value


def workload_snapshot(workload: ComputeWorkload) -> dict[str, Any]:
    """``workload`` as an event's payload records it (``SNAPSHOT_FIELDS``), from the instance: no query."""
    return {name: _snapshot_value(getattr(workload, column)) for name, column in _SNAPSHOT_COLUMNS.items()}


def workload_snapshots(*, workload_ids: Sequence) -> dict[Any, dict[str, Any]]:
    """The snapshots of ``workload_ids`` as the rows are now (one query), by id: for a writer that
    changed them with ``update()`` and records their events in the same transaction."""
    rows = ComputeWorkload.objects.filter(pk__in=workload_ids).values(*_SNAPSHOT_COLUMNS.values())
    return {
        row["id"]: {name: _snapshot_value(row[column]) for name, column in _SNAPSHOT_COLUMNS.items()} for row in rows
    }


def workload_event(
    workload: ComputeWorkload, *, event_type: str, actor: User | None, **details: Any
) -> outbox.NewEvent:
    """The outbox event ``event_type`` of ``workload``: its snapshot as of now, and ``details``."""
    return outbox.NewEvent(
        type=event_type,
        organization_id=workload.organization_id,
        subject_id=workload.pk,
        actor_id=getattr(actor, "pk", None),
        payload={"workload": workload_snapshot(workload), **details},
    )


def _announce(workload: ComputeWorkload, *, event_type: str, actor: User | None, **details: Any) -> None:
    """Record ``event_type`` in the outbox, in the caller's transaction (its last write)."""
    outbox.events_record(events=[workload_event(workload, event_type=event_type, actor=actor, **details)])


def workload_submitter_check(*, user: User) -> None:
    """May ``user`` submit workloads at all (before any row is read)? Raises PermissionDenied or
    EmailNotVerified (403 both)."""
    if user.organization_id is None:
        raise PermissionDenied("Service accounts without an organisation cannot submit workloads.")
    user_require_verified_email(user=user, to="submit workloads")


def workload_prepare(*, user: User, data: dict[str, Any], now: datetime) -> ComputeWorkload:
    """An unsaved workload of ``user`` submitted at ``now``, checked by every rule of a submission.

    Raises ValidationError (or PermissionDenied). A single submit and each row of a batch go through
    this one function. It makes no query: the owner and organisation are the caller's, the zone was
    looked up by the input's serializer, and what the database enforces itself (the unique ids, the
    status constraints, which cannot fail for a new PENDING row) is left to the insert.
    """
    workload_submitter_check(user=user)
    fields = {name: data[name] for name in USER_FIELDS if name in data}
    if fields.get("estimated_duration_mins") is None:
        fields["estimated_duration_mins"] = workload_default_duration_mins(
            required_gpu_mins=fields.get("required_gpu_mins")
        )
    workload = ComputeWorkload(user=user, organization_id=user.organization_id, submitted_at=now, **fields)
    if workload.host_dc_id is None:
        raise ValidationError({"host_dc": ["This field is required."]})
    _validate_timing(workload, now=now)
    workload.full_clean(
        exclude=["job_id", "user", "organization", "host_dc"], validate_unique=False, validate_constraints=False
    )
    return workload


def new_job_ids(now: datetime, count: int) -> list[str]:
    """``count`` distinct job ids of the day of ``now`` (unique in the table too, unless astronomically unlucky:
    the insert then fails on the unique index and the caller draws again)."""
    ids: set[str] = set()
    while len(ids) < count:
        ids.add(_new_job_id(now))
    return list(ids)


@transaction.atomic
def workload_create(*, user: User, data: dict[str, Any]) -> ComputeWorkload:
    """Submit a workload for ``user``: the owner and organisation are the caller's, never the client's."""
    now = timezone.now()
    workload = workload_prepare(user=user, data=data, now=now)
    for _ in range(5):
        workload.job_id = _new_job_id(now)
        try:
            with transaction.atomic():
                workload.save(force_insert=True)
            break
        except IntegrityError:
            if not ComputeWorkload.objects.filter(job_id=workload.job_id).exists():
                raise
    else:  # pragma: no cover - 32**6 ids a day make five collisions in a row unthinkable
        raise ConcurrentUpdate("Could not allocate a job id; try again.")
    _record(workload, action=WorkloadAction.SUBMIT, actor=user, from_status=None)
    _announce(workload, event_type=EventType.WORKLOAD_SUBMITTED, actor=user)
    return workload


@transaction.atomic
def workload_update(*, workload: ComputeWorkload, actor: User, data: dict[str, Any]) -> ComputeWorkload:
    """Change the user-owned fields of a PENDING workload.

    The owner may change their own workload while it is PENDING; the service role may change any.
    The row is locked so a concurrent assignment cannot slip in between the check and the write.
    """
    locked = ComputeWorkload.objects.select_for_update().get(pk=workload.pk)
    if not (actor.is_service_role or locked.user_id == actor.pk):
        raise PermissionDenied("Only the owner may change a workload.")
    if locked.status != WorkloadStatus.PENDING and not actor.is_service_role:
        raise WorkloadNotEditable(
            f"Only PENDING workloads can be changed; this one is {locked.status}.",
            fields={"status": [f"Is {locked.status}."]},
        )
    changes = {name: data[name] for name in USER_FIELDS if name in data}
    # A duration that was the default (none given, or its value equals the default of the old
    # GPU-minutes) follows the new GPU-minutes; a duration the owner chose stays.
    was_default = locked.estimated_duration_mins == workload_default_duration_mins(
        required_gpu_mins=locked.required_gpu_mins
    )
    if changes.get("estimated_duration_mins", 0) is None or (
        "estimated_duration_mins" not in changes and "required_gpu_mins" in changes and was_default
    ):
        changes["estimated_duration_mins"] = workload_default_duration_mins(
            required_gpu_mins=changes.get("required_gpu_mins", locked.required_gpu_mins)
        )
    changed_names = sorted(name for name, value in changes.items() if getattr(locked, name) != value)
    locked, changed = model_update(
        instance=locked,
        fields=list(USER_FIELDS),
        data=changes,
        validate=lambda workload: _validate_timing(workload, now=timezone.now()),
    )
    if changed:
        _announce(locked, event_type=EventType.WORKLOAD_UPDATED, actor=actor, changed=changed_names)
    return locked


def _transition(
    workload: ComputeWorkload,
    *,
    action: str,
    actor: User | None,
    note: str = "",
    changes: dict[str, Any] | Callable[[ComputeWorkload], dict[str, Any]] | None = None,
    check: Callable[[ComputeWorkload], None] | None = None,
    allowed_from: frozenset[str] | None = None,
    hold: Callable[[ComputeWorkload], str] | None = None,
) -> ComputeWorkload:
    """Move ``workload`` along the state machine, atomically and exactly once.

    ``allowed_from`` narrows the statuses this caller may act from (see ``next_status``).

    The row is locked (PostgreSQL) and the update is conditional on the status read, so of two
    concurrent requests one wins and the other gets a 409 — on SQLite too, where the conditional
    update finds the status already changed. Rules that depend on the row's state (``check``, which
    raises) and values derived from it (``changes`` as a function) see the locked row, never the
    possibly stale one the caller read.

    The capacity ledger follows the status in the same transaction: ``hold`` (run on the updated
    row) writes what the workload holds now and returns a line for the event log; a status that
    holds nothing (COMPLETED, FAILED, CANCELLED) releases what it held.
    """
    with transaction.atomic():
        current = ComputeWorkload.objects.select_for_update().get(pk=workload.pk)
        if check is not None:
            check(current)
        from_status = current.status
        target = next_status(action, from_status, allowed_from=allowed_from)
        extra = changes(current) if callable(changes) else changes or {}
        values = {**extra, "status": target, "updated_at": timezone.now()}
        updated = ComputeWorkload.objects.filter(pk=current.pk, status=from_status).update(**values)
        if updated != 1:
            raise ConcurrentUpdate("Someone else changed this workload at the same moment; reload and retry.")
        current.refresh_from_db()
        if hold is not None:
            note = " ".join(part for part in (hold(current), note) if part)
        elif target not in HOLDING_STATUSES:
            capacity.release(workload_ids=[current.pk])
        _record(current, action=action, actor=actor, from_status=from_status, note=note)
        _announce(
            current, event_type=ACTION_EVENTS[action], actor=actor, action=action, from_status=from_status, note=note
        )
    signals.workload_transitioned.send_robust(
        sender=ComputeWorkload,
        workload_id=current.pk,
        action=action,
        from_status=from_status,
        to_status=target,
        actor_id=None if actor is None else actor.pk,
    )
    return current


#: What an owner may cancel; operators and the service role may cancel anything unfinished.
OWNER_CANCELS_FROM = frozenset({WorkloadStatus.PENDING, WorkloadStatus.SCHEDULED})


def workload_cancel(*, workload: ComputeWorkload, actor: User, note: str = "") -> ComputeWorkload:
    """The owner cancels while PENDING or SCHEDULED; operators and the service role any unfinished one."""
    operates = actor.operates(workload.organization_id)
    if not operates and workload.user_id != actor.pk:
        raise PermissionDenied("Only the owner or an operator of the organisation may cancel this workload.")

    def owner_may_not_stop_a_run(current: ComputeWorkload) -> None:
        if not operates and current.status == WorkloadStatus.RUNNING:
            raise PermissionDenied("A running workload can only be cancelled by an operator.")

    return _transition(
        workload,
        action=WorkloadAction.CANCEL,
        actor=actor,
        note=note,
        check=owner_may_not_stop_a_run,
        allowed_from=None if operates else OWNER_CANCELS_FROM,
    )


def workload_assign(
    *,
    workload: ComputeWorkload,
    actor: User | None,
    zone: GridZone,
    planned_start: datetime | None = None,
    note: str = "",
    reassign: bool = False,
    override_capacity: bool = False,
) -> ComputeWorkload:
    """Choose the zone (and start) of a PENDING workload, or of a SCHEDULED one with ``reassign``.

    ``actor`` is None when Pylon assigns by policy. A plain assign of an already SCHEDULED workload
    is a 409, so of two operators assigning at once exactly one wins.

    The zone must hold the workload for its whole run besides what is held there already (a
    reassignment's own holds aside): otherwise 409 ``capacity_exceeded`` naming the half hours and
    the resources short. An operator may force it with ``override_capacity`` (and a reason, the
    ``note``); the event log records by how much. Pylon's policy never overrides.
    """
    if actor is not None and not actor.operates(workload.organization_id):
        raise PermissionDenied("Only operators of the organisation may assign workloads.")
    if override_capacity and (actor is None or not note.strip()):
        raise ValidationError({"override_capacity": ["An operator overrides capacity, and says why (`reason`)."]})
    now = timezone.now()
    start = planned_start or now
    if start < now - timedelta(minutes=5):
        raise ValidationError({"planned_start": ["The planned start cannot be in the past."]})

    def run_ends_by_the_deadline(current: ComputeWorkload) -> None:
        end = start + timedelta(minutes=current.estimated_duration_mins)
        if current.deadline is not None and end > current.deadline:
            raise ValidationError(
                {"planned_start": ["Starting then, the run would end after the workload's deadline."]}
            )

    def hold_the_run(current: ComputeWorkload) -> str:
        end = start + timedelta(minutes=current.estimated_duration_mins)
        # A reassignment locks the zone it leaves too (its holds there are released), in one order.
        locked = capacity.zones_lock([zone.pk, *capacity.zones_held(workload_id=current.pk)], now=now)
        return _hold_checked(
            current, zone=locked[zone.pk], start=start, end=end, override=override_capacity, what="Assigned"
        )

    action = WorkloadAction.REASSIGN if reassign else WorkloadAction.ASSIGN
    assigned = _transition(
        workload,
        action=action,
        actor=actor,
        note=note,
        changes={"chosen_grid_zone": zone, "planned_start": start},
        check=run_ends_by_the_deadline,
        hold=hold_the_run,
    )
    if override_capacity:
        overbooking.overbooking_check(zone_id=zone.pk, now=now)
    return assigned


def _hold_checked(
    current: ComputeWorkload, *, zone: GridZone, start: datetime, end: datetime, override: bool, what: str
) -> str:
    """Hold ``[start, end)`` of ``zone`` (locked) for ``current`` if the zone has room besides what
    others hold there; else 409 ``capacity_exceeded``, unless an operator overrides — then the
    line for the event log saying by how much."""
    short = capacity.shortfalls(zone=zone, start=start, end=end, needs=capacity.Needs.of(current), excluding=current.pk)
    if short and not override:
        raise capacity.capacity_exceeded(zone, short)
    capacity.hold(workload=current, zone_id=zone.pk, start=start, end=end)
    return capacity.override_note(zone, short, what=what) if short else ""


def workload_start(
    *, workload: ComputeWorkload, actor: User, note: str = "", override_capacity: bool = False
) -> ComputeWorkload:
    """A SCHEDULED workload starts now. What it holds follows the real start; a start away from the
    planned one (early, or late enough to run into others' holds) is checked like an assignment: 409
    ``capacity_exceeded`` unless the operator overrides, saying why (``note``)."""
    if not actor.operates(workload.organization_id):
        raise PermissionDenied("Only operators of the organisation may start workloads.")
    if override_capacity and not note.strip():
        raise ValidationError({"note": ["Say why you start beyond the zone's capacity."]})

    def hold_the_real_run(current: ComputeWorkload) -> str:
        end = current.actual_start + timedelta(minutes=current.estimated_duration_mins)
        zone = capacity.zone_lock(current.chosen_grid_zone_id, now=current.actual_start)
        return _hold_checked(
            current, zone=zone, start=current.actual_start, end=end, override=override_capacity, what="Started"
        )

    started = _transition(
        workload,
        action=WorkloadAction.START,
        actor=actor,
        note=note,
        changes={"actual_start": timezone.now()},
        hold=hold_the_real_run,
    )
    if override_capacity:
        overbooking.overbooking_check(zone_id=started.chosen_grid_zone_id, now=started.actual_start)
    return started


def workload_complete(
    *, workload: ComputeWorkload, actor: User, measured_energy_kwh: Decimal | None = None, note: str = ""
) -> ComputeWorkload:
    """Finish a run and account for it: what it emitted and cost, and what running at once in the
    host zone would have (the baseline the savings are measured against)."""
    if not actor.operates(workload.organization_id):
        raise PermissionDenied("Only operators of the organisation may complete workloads.")

    def accounting(current: ComputeWorkload) -> dict[str, Any]:
        energy = measured_energy_kwh if measured_energy_kwh is not None else current.estimated_energy_kwh
        end = timezone.now()
        if energy is None:  # neither measured nor estimated: the power model, over the real run length
            energy = workload_energy_estimate_kwh(current, duration_mins=_minutes(current.actual_start or end, end))
        changes = {"actual_end": end, **_run_accounting(current, energy_kwh=Decimal(energy), end=end)}
        if measured_energy_kwh is not None:
            changes["actual_energy_kwh"] = measured_energy_kwh
        elif current.estimated_energy_kwh is None:
            changes["estimated_energy_kwh"] = energy  # the model's figure, so the run's intensity is known
        return changes

    return _transition(workload, action=WorkloadAction.COMPLETE, actor=actor, note=note, changes=accounting)


def workload_energy_estimate_kwh(workload: ComputeWorkload, *, duration_mins: float | None = None) -> Decimal:
    """The energy of a run from its resources, by the documented power model
    (``scheduling.engine.energy``: per-GPU, per-core and per-GB watts, times PUE)."""
    duration = max(duration_mins or workload.estimated_duration_mins, 1)
    # GPU-minutes are spread over the planned duration; a shorter or longer real run keeps the GPU count.
    gpus = float(workload.required_gpu_mins) / workload.estimated_duration_mins
    kwh = estimate_energy_kwh(
        duration_mins=duration,
        gpu_mins=gpus * duration,
        cpu_cores=workload.required_cpu_cores,
        memory_gb=float(workload.required_memory_gb),
    )
    return Decimal(f"{kwh:.3f}")


def _minutes(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 60


def workload_fail(*, workload: ComputeWorkload, actor: User, note: str = "") -> ComputeWorkload:
    if not actor.operates(workload.organization_id):
        raise PermissionDenied("Only operators of the organisation may mark workloads failed.")
    return _transition(
        workload,
        action=WorkloadAction.FAIL,
        actor=actor,
        note=note,
        changes=lambda current: {"actual_end": timezone.now()} if current.actual_start else {},
    )


def workload_recompute_accounting(*, workload: ComputeWorkload) -> ComputeWorkload:
    """Account a COMPLETED run again, e.g. once measured (actual) intensities have replaced the
    forecasts its period was first accounted at."""
    if workload.status != WorkloadStatus.COMPLETED or workload.energy_kwh is None:
        raise ApplicationError("Only completed runs with a known energy are accounted.", code=ErrorCode.CONFLICT)
    figures = _run_accounting(workload, energy_kwh=Decimal(workload.energy_kwh), end=workload.actual_end)
    ComputeWorkload.objects.filter(pk=workload.pk).update(**figures)
    workload.refresh_from_db()
    return workload


KG_PER_G = Decimal("0.001")


def _run_accounting(workload: ComputeWorkload, *, energy_kwh: Decimal, end: datetime) -> dict[str, Decimal]:
    """Emissions and cost of the run, and of the baseline: the same energy run at once, on
    submission, in the host zone. Intensities are time-weighted over each run's period."""
    start = workload.actual_start or end
    run_length = max(end - start, timedelta(minutes=1))
    chosen = workload.chosen_grid_zone
    intensity, price = selectors.zone_mean_figures(zone=chosen, start=start, end=end)
    baseline_start = workload.submitted_at
    base_intensity, base_price = selectors.zone_mean_figures(
        zone=workload.host_dc, start=baseline_start, end=baseline_start + run_length
    )
    quantum = Decimal("0.0001")
    return {
        "carbon_emitted_kg": (energy_kwh * intensity * KG_PER_G).quantize(quantum),
        "cost_gbp": (energy_kwh * price).quantize(quantum),
        "baseline_carbon_kg": (energy_kwh * base_intensity * KG_PER_G).quantize(quantum),
        "baseline_cost_gbp": (energy_kwh * base_price).quantize(quantum),
    }


#: Ids per ``UPDATE``: keeps ``IN (...)`` lists well inside every backend's parameter limit.
UPDATE_BATCH = 1000


def workload_recommended_zones_update(*, workload_ids: Sequence, ranked: QuerySet) -> None:
    """Point the ``recommended_*`` columns of these workloads at the zones of their options ranked
    1–3 in ``ranked`` (rows with ``workload``, ``rank`` and ``zone``: the scheduler's stored
    recommendations; this app does not know their model).

    One ``UPDATE … SET col = (SELECT zone FROM ranked WHERE workload = id AND rank = k)`` per 1,000
    workloads: a unique (workload, rank) index answers each subquery, so this is far cheaper than
    ``bulk_update``'s ``CASE WHEN`` of one branch per row, and it cannot disagree with the rows just
    written. ``updated_at`` is left alone: a recompute is not a change of the workload.
    """

    def rank(k: int) -> Subquery:
        return Subquery(ranked.filter(workload=OuterRef("pk"), rank=k).values("zone")[:1])

    ids = list(workload_ids)
    for lo in range(0, len(ids), UPDATE_BATCH):
        ComputeWorkload.objects.filter(pk__in=ids[lo : lo + UPDATE_BATCH]).update(
            recommended_grid_zone=rank(1), recommended_2_grid_zone=rank(2), recommended_3_grid_zone=rank(3)
        )


def workloads_owner_anonymise(*, user: User, placeholder: User | None) -> None:
    """An erased account's workloads stay for the organisation's accounting, owned by its "deleted
    user"; the events it caused name that placeholder too (none: no actor)."""
    if placeholder is not None:  # None: an account with no organisation, which cannot own workloads
        ComputeWorkload.objects.filter(user=user).update(user=placeholder, updated_at=timezone.now())
    WorkloadEvent.objects.filter(actor=user).update(actor=placeholder)
