"""Recomputing recommendations: a fixed number of bulk queries whatever the number of workloads,
then the pure engine, then one transaction that replaces the rows. It is idempotent (twice on the
same data writes the same rows) and never clobbers a workload that changed status or fields while it
computed: that one is skipped, and its own change enqueues its own computation.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from notifications import services as notification_services
from outbox import services as outbox
from outbox.models import EventType
from scheduling import engine, inputs, owner_notifications, selectors, services
from scheduling.engine import reconcile
from scheduling.models import Recommendation, SchedulingOutcome
from scheduling.rows import OUTCOME_UPDATE_FIELDS, new_outcome, new_recommendation, recommendation_rows
from workloads import capacity as workload_capacity
from workloads import services as workload_services
from workloads.models import ComputeWorkload, WorkloadStatus

TOP_K = 3
#: Ids per statement: keeps ``IN (...)`` lists well inside every backend's parameter limit.
DB_BATCH = 1000
FK_COLUMNS = ("recommended_grid_zone_id", "recommended_2_grid_zone_id", "recommended_3_grid_zone_id")


def batches(items: Sequence, size: int = DB_BATCH) -> Iterable[Sequence]:
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
    for batch in batches(ids):
        rows.extend(
            ComputeWorkload.objects.filter(pk__in=batch, status=WorkloadStatus.PENDING)
            .order_by()
            .values(*inputs.WORKLOAD_FIELDS)
        )
    report.skipped = len(ids) - len(rows)
    if not rows:
        return report

    context = inputs.context_load(now=now)
    # What other chunks have promised counts too: fewer of this chunk's options fail reconciliation.
    inputs.tentative_add(reservations=context.reservations, grid=context.grid, excluding={row["id"] for row in rows})
    policies = selectors.policies_for(organization_ids=[row["organization_id"] for row in rows])
    # Pure computation from here to the writes, which allocates a few hundred thousand small objects:
    # without the pause the cyclic collector would rescan the growing heap several times over. The
    # reads before and the writes after run with it as usual.
    with gc_paused():
        built = _compute(rows, context, policies, now, report.run_id)
    auto_assign = _persist(
        rows,
        built,
        policies,
        report,
        reconciled=lambda keep: _reconcile(rows, keep, built, context, policies, now, report.run_id),
    )
    if auto_assign:
        report.auto_assigned = services.workloads_auto_assign(
            candidates=auto_assign, policies=policies, zones=context.zones
        )
    return report


@contextmanager
def gc_paused() -> Iterator[None]:
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
    make_recommendation = new_recommendation.maker()
    make_outcome = new_outcome.maker()
    built = []
    for row, plan in zip(rows, result.plans, strict=True):
        pk = row["id"]
        energy = plan.energy_kwh_used
        ranked = recommendation_rows(
            plan,
            make=make_recommendation,
            workload_id=pk,
            zone_pk=zone_pk,
            fetched_at=fetched_at,
            computed_at=computed_at,
            run_id=run_id,
        )
        org = row["organization_id"]
        policy_weights = weights[org]
        baseline = plan.baseline
        infeasible = plan.infeasible
        outcome = make_outcome(
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
    reconciled: Callable[[list[int]], None],
) -> list[tuple[dict[str, Any], list[Recommendation]]]:
    """Write the rows still as they were read (``built`` by ``_compute``). Returns what to auto-assign."""
    with transaction.atomic():
        # Lock the rows (PostgreSQL; SQLite serialises writers) and keep only the untouched ones.
        current: dict = {}
        for batch in batches([row["id"] for row in rows]):
            current.update(
                ComputeWorkload.objects.select_for_update()
                .filter(pk__in=batch, status=WorkloadStatus.PENDING)
                .order_by("pk")
                .values_list("pk", "updated_at")
            )
        keep = [k for k, row in enumerate(rows) if current.get(row["id"]) == row["updated_at"]]
        report.skipped += len(rows) - len(keep)
        reconciled(keep)

        # What the last computation said of the unschedulable ones: their owners hear of it once.
        previous: dict = {}
        for batch in batches([rows[k]["id"] for k in keep if built[k][2] is not None]):
            previous.update(
                (pk, (feasible, updated))
                for pk, feasible, updated in SchedulingOutcome.objects.filter(workload_id__in=batch).values_list(
                    "workload_id", "feasible", "workload_updated_at"
                )
            )
        for batch in batches([rows[k]["id"] for k in keep]):
            Recommendation.objects.filter(workload_id__in=batch).delete()

        recommendations: list[Recommendation] = []
        outcomes: list[SchedulingOutcome] = []
        moved: list = []
        notifications: list[notification_services.NotificationDraft] = []
        auto_assign: list[tuple[dict[str, Any], list[Recommendation]]] = []
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
                auto_assign.append((row, ranked))

        Recommendation.objects.bulk_create(recommendations, batch_size=DB_BATCH)
        SchedulingOutcome.objects.bulk_create(
            outcomes,
            batch_size=DB_BATCH,
            update_conflicts=True,
            unique_fields=["workload"],
            update_fields=OUTCOME_UPDATE_FIELDS,
        )
        workload_services.workload_recommended_zones_update(workload_ids=moved, ranked=Recommendation.objects.all())
        report.notified = notification_services.notification_create_many(drafts=notifications)
        # Last: recording holds the outbox's order lock until the commit.
        outbox.events_record(events=_outcome_events(rows, keep, built, moved, notifications))
        report.computed = len(keep)
    return auto_assign


def _reconcile(
    rows: list[dict[str, Any]],
    keep: list[int],
    built: list,
    context: inputs.SchedulingContext,
    policies: dict,
    now: datetime,
    run_id: uuid.UUID,
) -> None:
    """The recompute's one serialised step (inside ``_persist``'s transaction): with every zone
    locked, check the options of ``built[k]`` (``k`` in ``keep``) against what is held now — the
    ledger and the best options other chunks have stored — in priority order (``engine.reconcile``).
    Options that no longer fit are dropped; a workload left with none is computed again, against
    the capacity that is left, and ``built`` updated in place. Short: no engine pass unless
    something was displaced."""
    workload_capacity.zones_lock_all()
    reservations = inputs.reservations_load(grid=context.grid, now=now)
    inputs.tentative_add(reservations=reservations, grid=context.grid, excluding={rows[k]["id"] for k in keep})
    workload_inputs = [inputs.workload_input(rows[k]) for k in keep]
    order = [keep[i] for i in engine.priority_order(workload_inputs, now)]
    options = [[reconcile.Run(inputs.zone_code(rec.zone_id), rec.start, rec.end) for rec in built[k][0]] for k in order]
    needs = []
    for k in order:
        workload = inputs.workload_input(rows[k])
        needs.append((workload.gpus, workload.cpu_cores, workload.memory_gb))
    fitting = reconcile.reconcile(options, needs, context.zone_inputs, reservations, context.grid.start)
    displaced = []
    for k, kept in zip(order, fitting, strict=True):
        ranked, outcome, infeasible = built[k]
        if len(kept) == len(ranked):
            continue
        if not kept:
            displaced.append(k)
            continue
        ranked = [ranked[i] for i in kept]
        for rank, recommendation in enumerate(ranked, start=1):
            recommendation.rank = rank
        built[k] = (ranked, outcome, infeasible)
    if displaced:
        context = replace(context, reservations=reservations)
        recomputed = _compute([rows[k] for k in displaced], context, policies, now, run_id)
        for k, entry in zip(displaced, recomputed, strict=True):
            built[k] = entry


def _outcome_events(
    rows, keep, built, moved: list, notifications: list[notification_services.NotificationDraft]
) -> list[outbox.NewEvent]:
    """``workload.recommended`` where the recommended zones changed, ``workload.unschedulable`` where
    the owner is being told that nothing fits; each with the workload's snapshot as written (read
    back in this transaction: the zones were updated in bulk)."""
    moved_ids, unschedulable_ids = set(moved), {n.workload_id for n in notifications}
    outcomes = []
    for k in keep:
        row = rows[k]
        ranked, _, infeasible = built[k]
        if row["id"] in unschedulable_ids and infeasible is not None:
            event_type = EventType.WORKLOAD_UNSCHEDULABLE
            details = {"constraint": str(infeasible.constraint), "reason": infeasible.message}
        elif row["id"] in moved_ids and ranked:
            event_type = EventType.WORKLOAD_RECOMMENDED
            details = {
                "recommendations": [
                    {
                        "rank": rec.rank,
                        "zone": rec.zone_id,
                        "start": rec.start,
                        "expected_emissions_kg": rec.expected_emissions_kg,
                        "expected_cost_gbp": rec.expected_cost_gbp,
                    }
                    for rec in ranked
                ]
            }
        else:
            continue
        outcomes.append((row, event_type, details))
    snapshots: dict = {}
    for batch in batches([row["id"] for row, _, _ in outcomes]):
        snapshots.update(workload_services.workload_snapshots(workload_ids=batch))
    return [
        outbox.NewEvent(
            type=event_type,
            organization_id=row["organization_id"],
            subject_id=row["id"],
            payload={"workload": snapshots[row["id"]], **details},
        )
        for row, event_type, details in outcomes
    ]
