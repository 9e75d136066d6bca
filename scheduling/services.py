"""Writes for scheduling: recomputing recommendations, auto-assignment, policies.

``recommendations_compute`` is the heart: a fixed number of bulk queries whatever the number of
workloads, then the pure engine, then one transaction that replaces the rows. It is idempotent
(twice on the same data writes the same rows) and never clobbers a workload that changed status or
fields while it computed: that one is skipped, and its own change enqueues its own computation.
"""

from __future__ import annotations

import gc
import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery, signals
from django.db.models.base import ModelState
from django.utils import timezone

from accounts.models import User
from notifications import services as notification_services
from pylon.core.exceptions import ApplicationError
from scheduling import engine, inputs, owner_notifications, selectors
from scheduling.models import (
    PRESET_WEIGHTS,
    PolicyPreset,
    Recommendation,
    SchedulingOutcome,
    SchedulingPolicy,
)
from workloads import services as workload_services
from workloads.models import ComputeWorkload, WorkloadStatus

logger = logging.getLogger(__name__)

TOP_K = 3
#: Ids per statement: keeps ``IN (...)`` lists well inside every backend's parameter limit.
DB_BATCH = 1000
FK_COLUMNS = ("recommended_grid_zone_id", "recommended_2_grid_zone_id", "recommended_3_grid_zone_id")
OUTCOME_UPDATE_FIELDS = [
    "feasible",
    "constraint",
    "message",
    "details",
    "baseline_emissions_kg",
    "baseline_cost_gbp",
    "energy_kwh",
    "energy_was_estimated",
    "policy_preset",
    "carbon_weight",
    "price_weight",
    "wait_weight",
    "forecast_fetched_at",
    "workload_updated_at",
    "computed_at",
    "run_id",
]


def _batches(items: Sequence, size: int = DB_BATCH) -> Iterable[Sequence]:
    for lo in range(0, len(items), size):
        yield items[lo : lo + size]


@dataclass
class ComputeReport:
    """What one ``recommendations_compute`` did."""

    run_id: uuid.UUID
    computed: int = 0
    skipped: int = 0
    unschedulable: int = 0
    notified: int = 0
    auto_assigned: list = field(default_factory=list)


def recommendations_compute(*, workload_ids: Iterable, now: datetime | None = None) -> ComputeReport:
    """Recompute the ranked options of the PENDING workloads among ``workload_ids``.

    Reads: the workloads (one query per 1,000 ids), zones, the forecast grid, reservations and the
    organisations' policies. The engine places the batch in priority order, each workload's best
    option reserving capacity for the next. Writes, in one transaction: the old recommendations of
    the computed workloads are deleted and the new ones bulk-inserted, the outcomes upserted, the
    three ``recommended_*`` columns updated where they changed, and owners of workloads that have
    just become unschedulable notified. Then organisations that enabled auto-assignment get their
    workloads' best options assigned, through ``workload_assign`` (state machine and event log).
    """
    now = now or timezone.now()
    report = ComputeReport(run_id=uuid.uuid4())
    ids = sorted({uuid.UUID(str(pk)) for pk in workload_ids}, key=str)
    rows: list[dict[str, Any]] = []
    for batch in _batches(ids):
        rows.extend(
            ComputeWorkload.objects.filter(pk__in=batch, status=WorkloadStatus.PENDING)
            .order_by()
            .values(*inputs.WORKLOAD_FIELDS)
        )
    report.skipped = len(ids) - len(rows)
    if not rows:
        return report

    context = inputs.context_load(now=now)
    policies = selectors.policies_for(organization_ids=[row["organization_id"] for row in rows])
    # Pure computation from here to the writes, which allocates a few hundred thousand small objects:
    # without the pause the cyclic collector would rescan the growing heap several times over. The
    # reads before and the writes after run with it as usual.
    with _gc_paused():
        built = _compute(rows, context, policies, now, report.run_id)
    auto_assign = _persist(rows, built, policies, report)
    if auto_assign:
        report.auto_assigned = _auto_assign(auto_assign, policies, context)
    return report


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Automatic garbage collection off for a stretch of pure computation, back on (if it was) after.

    Nothing is lost: objects in reference cycles are collected at the next automatic collection."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _compute(
    rows: list[dict[str, Any]], context: inputs.SchedulingContext, policies: dict, now: datetime, run_id: uuid.UUID
) -> list[tuple[list[Recommendation], SchedulingOutcome, engine.Infeasibility | None]]:
    """The engine's plans for ``rows`` as unsaved rows: for each row, in order, its recommendations
    (ranks 1..), its outcome and why it is unschedulable (None when it is not). Only these are
    returned: the engine's inputs and plans are garbage by the time the writes run."""
    weights = {org: policy.weights for org, policy in policies.items()}
    result = engine.schedule_batch(
        [inputs.workload_input(row) for row in rows],
        context.zone_inputs,
        context.grid,
        context.reservations,
        {str(row["id"]): weights[row["organization_id"]] for row in rows},
        now,
        top_k=TOP_K,
    )
    computed_at = timezone.now()
    fetched_at = context.forecast_fetched_at
    zone_pk = {code: zone.pk for code, zone in context.zone_by_code.items()}
    new_recommendation = _new_recommendation.maker()
    new_outcome = _new_outcome.maker()
    built = []
    for row, plan in zip(rows, result.plans, strict=True):
        pk = row["id"]
        energy = plan.energy_kwh_used
        ranked = [
            new_recommendation(
                (
                    None,
                    pk,
                    rank,
                    zone_pk[option.zone],
                    option.start,
                    option.end,
                    option.emissions_kg,
                    option.cost_gbp,
                    None if option.carbon_saving_g is None else option.carbon_saving_g / 1000.0,
                    option.cost_saving_gbp,
                    option.mean_intensity,
                    option.mean_price,
                    option.wait_mins,
                    option.score,
                    option.score_parts.carbon,
                    option.score_parts.price,
                    option.score_parts.wait,
                    energy,
                    fetched_at,
                    computed_at,
                    run_id,
                )
            )
            for rank, option in enumerate(plan.options, start=1)
        ]
        org = row["organization_id"]
        policy_weights = weights[org]
        baseline = plan.baseline
        infeasible = plan.infeasible
        outcome = new_outcome(
            (
                pk,
                infeasible is None,
                "" if infeasible is None else str(infeasible.constraint),
                "" if infeasible is None else infeasible.message,
                {} if infeasible is None else infeasible.details,
                None if baseline is None else baseline.emissions_g / 1000.0,
                None if baseline is None else baseline.cost_gbp,
                energy,
                plan.energy_was_estimated,
                policies[org].preset,
                policy_weights.carbon,
                policy_weights.price,
                policy_weights.wait,
                fetched_at,
                row["updated_at"],
                computed_at,
                run_id,
            )
        )
        built.append((ranked, outcome, infeasible))
    return built


def _persist(
    rows: list[dict[str, Any]],
    built: list[tuple[list[Recommendation], SchedulingOutcome, engine.Infeasibility | None]],
    policies: dict,
    report: ComputeReport,
) -> list[tuple[dict[str, Any], Recommendation]]:
    """Write the rows still as they were read (``built`` by ``_compute``). Returns what to auto-assign."""
    with transaction.atomic():
        # Lock the rows (PostgreSQL; SQLite serialises writers) and keep only the untouched ones.
        current: dict = {}
        for batch in _batches([row["id"] for row in rows]):
            current.update(
                ComputeWorkload.objects.select_for_update()
                .filter(pk__in=batch, status=WorkloadStatus.PENDING)
                .order_by("pk")
                .values_list("pk", "updated_at")
            )
        keep = [k for k, row in enumerate(rows) if current.get(row["id"]) == row["updated_at"]]
        report.skipped += len(rows) - len(keep)

        # What the last computation said of the unschedulable ones: their owners hear of it once.
        previous: dict = {}
        for batch in _batches([rows[k]["id"] for k in keep if built[k][2] is not None]):
            previous.update(
                (pk, (feasible, updated))
                for pk, feasible, updated in SchedulingOutcome.objects.filter(workload_id__in=batch).values_list(
                    "workload_id", "feasible", "workload_updated_at"
                )
            )
        for batch in _batches([rows[k]["id"] for k in keep]):
            Recommendation.objects.filter(workload_id__in=batch).delete()

        recommendations: list[Recommendation] = []
        outcomes: list[SchedulingOutcome] = []
        moved: list = []
        notifications: list[notification_services.NotificationDraft] = []
        auto_assign: list[tuple[dict[str, Any], Recommendation]] = []
        for k in keep:
            row = rows[k]
            ranked, outcome, infeasible = built[k]
            pk = row["id"]
            recommendations.extend(ranked)
            outcomes.append(outcome)
            fks = tuple(rec.zone_id for rec in ranked) + (None,) * (TOP_K - len(ranked))
            if fks != tuple(row[name] for name in FK_COLUMNS):
                moved.append(pk)
            if infeasible is not None:
                report.unschedulable += 1
                before = previous.get(pk)
                if before is None or before[0] or before[1] != row["updated_at"]:
                    notifications.append(owner_notifications.unschedulable_draft(row, infeasible))
            elif policies[row["organization_id"]].auto_assign and ranked:
                auto_assign.append((row, ranked[0]))

        Recommendation.objects.bulk_create(recommendations, batch_size=DB_BATCH)
        SchedulingOutcome.objects.bulk_create(
            outcomes,
            batch_size=DB_BATCH,
            update_conflicts=True,
            unique_fields=["workload"],
            update_fields=OUTCOME_UPDATE_FIELDS,
        )
        recommended_columns_update(workload_ids=moved)
        report.notified = notification_services.notification_create_many(drafts=notifications)
        report.computed = len(keep)
    return auto_assign


def recommended_columns_update(*, workload_ids: Sequence) -> None:
    """Point the ``recommended_*`` columns of these workloads at their stored ranks 1–3.

    One ``UPDATE … SET col = (SELECT zone FROM recommendation WHERE workload = id AND rank = k)``
    per 1,000 workloads: the unique (workload, rank) index answers each subquery, so this is far
    cheaper than ``bulk_update``'s ``CASE WHEN`` of one branch per row, and it cannot disagree with
    the rows just written. ``updated_at`` is left alone: a recompute is not a change of the workload.
    """

    def rank(k: int) -> Subquery:
        return Subquery(Recommendation.objects.filter(workload=OuterRef("pk"), rank=k).values("zone")[:1])

    for batch in _batches(list(workload_ids)):
        ComputeWorkload.objects.filter(pk__in=batch).update(
            recommended_grid_zone=rank(1), recommended_2_grid_zone=rank(2), recommended_3_grid_zone=rank(3)
        )


class _Rows:
    """Unsaved instances of ``model`` from tuples of values in ``columns`` order (every concrete
    field's ``attname``, checked once here).

    ``maker()`` returns the constructor to use for one batch: it sets ``_state`` and the field values
    directly, as ``Model.__init__`` does for a full positional call but without its per-field
    ``setattr`` loop (a fifth of the cost, which matters for the tens of thousands of rows of a
    recompute). When something listens to ``pre_init``/``post_init`` for the model, it goes through
    ``Model.__init__`` so that the signals are sent."""

    def __init__(self, model, columns: Sequence[str]):
        attnames = [field.attname for field in model._meta.concrete_fields]
        if len(columns) != len(attnames) or set(columns) != set(attnames):
            raise TypeError(f"{model.__name__}: columns must be exactly {attnames}")
        self.model = model
        self.columns = tuple(columns)
        self.order = [self.columns.index(name) for name in attnames]

    def maker(self):
        model, columns, order = self.model, self.columns, self.order
        if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
            return lambda values: model(*[values[k] for k in order])
        new = object.__new__

        def make(values: tuple):
            obj = new(model)
            obj._state = ModelState()
            obj.__dict__.update(zip(columns, values, strict=True))
            return obj

        return make


_new_recommendation = _Rows(
    Recommendation,
    (
        "id",
        "workload_id",
        "rank",
        "zone_id",
        "start",
        "end",
        "expected_emissions_kg",
        "expected_cost_gbp",
        "carbon_saving_kg",
        "cost_saving_gbp",
        "mean_intensity",
        "mean_price",
        "wait_mins",
        "score",
        "score_carbon",
        "score_price",
        "score_wait",
        "energy_kwh",
        "forecast_fetched_at",
        "computed_at",
        "run_id",
    ),
)
_new_outcome = _Rows(SchedulingOutcome, ("workload_id", *OUTCOME_UPDATE_FIELDS))


def _auto_assign(
    candidates: list[tuple[dict[str, Any], Recommendation]], policies: dict, context: inputs.SchedulingContext
) -> list:
    """Assign each candidate its best option by policy (``actor=None``), one transaction each.

    A workload that an operator assigned or cancelled meanwhile fails the state machine's check and
    is left alone; so is one whose option no longer fits (its start has passed the deadline).
    """
    by_pk = ComputeWorkload.objects.in_bulk([row["id"] for row, _ in candidates])
    zones = {zone.pk: zone for zone in context.zones}
    assigned = []
    for row, best in candidates:
        workload = by_pk.get(row["id"])
        if workload is None or workload.status != WorkloadStatus.PENDING:
            continue
        policy = policies[row["organization_id"]]
        note = (
            f"Assigned automatically by the organisation's {policy.preset} policy: recommendation #1, "
            f"{zones[best.zone_id].zone_name} from {engine.fmt_time(best.start)}, expected "
            f"{best.expected_emissions_kg:.3f} kg CO2"
            + (
                "."
                if best.carbon_saving_kg is None
                else f" ({best.carbon_saving_kg:.3f} kg less than at once in the host zone)."
            )
        )
        try:
            workload_services.workload_assign(
                workload=workload,
                actor=None,
                zone=zones[best.zone_id],
                planned_start=max(best.start, timezone.now()),
                note=note,
            )
        except (ApplicationError, ValidationError, PermissionDenied) as exc:
            logger.info("auto-assign of %s skipped: %s", workload.pk, exc)
            continue
        assigned.append(workload.pk)
    return assigned


# -- assignment from a recommendation ------------------------------------------------------------


def assignment_from_recommendation(
    *, workload: ComputeWorkload, actor: User, rank: int, note: str = "", reassign: bool = False
) -> ComputeWorkload:
    """Assign ``workload`` the zone and start of its recommendation ``rank`` (1–3).

    The event log records which recommendation was taken and what it expected, then the operator's
    note. A start that has passed meanwhile becomes "now" (``workload_assign`` refuses starts in the
    past); the deadline is still checked there. No such recommendation is a 400 naming ``rank``.
    """
    recommendation = selectors.recommendation_get(workload=workload, rank=rank)
    if recommendation is None:
        raise ApplicationError(
            f"This workload has no recommendation #{rank}; send a zone and start instead, or wait for Pylon "
            "to compute its options.",
            fields={"rank": [f"No recommendation #{rank}."]},
        )
    taken = (
        f"Recommendation #{rank}: {recommendation.zone.zone_name} from {engine.fmt_time(recommendation.start)}, "
        f"expected {recommendation.expected_emissions_kg:.3f} kg CO2."
    )
    return workload_services.workload_assign(
        workload=workload,
        actor=actor,
        zone=recommendation.zone,
        planned_start=max(recommendation.start, timezone.now()),
        note=f"{taken} {note}".strip(),
        reassign=reassign,
    )


# -- policies ------------------------------------------------------------------------------------

POLICY_WEIGHT_FIELDS = ("carbon_weight", "price_weight", "wait_weight")


@transaction.atomic
def policy_weights(*, preset: str, data: dict[str, Any], current: SchedulingPolicy) -> dict[str, Any]:
    """The weights a policy gets: a preset's own (sending different ones with it is a 400 — choose
    CUSTOM), or for CUSTOM those sent, the current ones standing in for any not sent."""
    if preset == PolicyPreset.CUSTOM:
        return {name: data.get(name, getattr(current, name)) for name in POLICY_WEIGHT_FIELDS}
    expected = dict(zip(POLICY_WEIGHT_FIELDS, PRESET_WEIGHTS[preset], strict=True))
    wrong = {
        name: [f"The {preset} preset sets this to {expected[name]}; choose CUSTOM to set weights."]
        for name in POLICY_WEIGHT_FIELDS
        if name in data and data[name] != expected[name]
    }
    if wrong:
        raise ValidationError(wrong)
    return expected


def policy_update(*, organization_id, actor: User, data: dict[str, Any]) -> SchedulingPolicy:
    """Set an organisation's policy (operators of that organisation, or the service role).

    A preset sets its own weights: sending different ones with it is a 400 (choose CUSTOM). CUSTOM
    keeps the weights sent (and the current ones for those not sent); at least one must be positive.
    Changing the policy recomputes the organisation's PENDING workloads after commit.
    """
    if not (actor.is_service_role or (actor.is_operator and actor.organization_id == organization_id)):
        raise PermissionDenied("Only operators of the organisation may change its scheduling policy.")
    policy = SchedulingPolicy.objects.select_for_update().filter(
        organization_id=organization_id
    ).first() or SchedulingPolicy.default_for(organization_id)
    preset = data.get("preset", policy.preset)
    weights = policy_weights(preset=preset, data=data, current=policy)
    before = (policy.preset, *(getattr(policy, name) for name in POLICY_WEIGHT_FIELDS), policy.auto_assign)
    policy.preset = preset
    for name, value in weights.items():
        setattr(policy, name, value)
    policy.auto_assign = data.get("auto_assign", policy.auto_assign)
    policy.updated_by = actor
    policy.full_clean()
    policy.save()
    after = (policy.preset, *(getattr(policy, name) for name in POLICY_WEIGHT_FIELDS), policy.auto_assign)
    if before != after:
        from scheduling import tasks

        transaction.on_commit(lambda: tasks.enqueue_pending(organization_id=organization_id), robust=True)
    return policy
