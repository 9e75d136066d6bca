"""Reads for scheduling. Visibility is never decided here from scratch: a workload's
recommendations are read through ``workloads.selectors.workload_list`` (the one place that decides
who sees which workload)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone

from accounts import selectors as account_selectors
from accounts.models import User
from pylon.db import compiled
from scheduling import engine, inputs, rows
from scheduling.models import Recommendation, SchedulingOutcome, SchedulingPolicy
from workloads import selectors as workload_selectors
from workloads.models import ComputeWorkload, WorkloadStatus


def policy_get(*, organization_id) -> SchedulingPolicy:
    """The organisation's policy: its row, or the unsaved BALANCED default when it never set one."""
    policy = SchedulingPolicy.objects.select_related("updated_by").filter(organization_id=organization_id).first()
    return policy or SchedulingPolicy.default_for(organization_id)


def policy_list(*, fetched_by: User) -> QuerySet[SchedulingPolicy]:
    """Stored policies the caller may see: every one for the service role, else their organisation's."""
    organizations = account_selectors.organization_list(fetched_by=fetched_by)
    return SchedulingPolicy.objects.filter(organization__in=organizations)


def policies_for(*, organization_ids) -> dict:
    """``organization_id → policy`` for many organisations in one query (defaults unsaved)."""
    found = {p.organization_id: p for p in SchedulingPolicy.objects.filter(organization_id__in=set(organization_ids))}
    return {org: found.get(org) or SchedulingPolicy.default_for(org) for org in set(organization_ids)}


def recommendation_list(*, workload: ComputeWorkload) -> QuerySet[Recommendation]:
    """The ranked options of a workload the caller already sees (looked up through ``workload_list``)."""
    return Recommendation.objects.filter(workload=workload).select_related("zone").order_by("rank")


def recommendation_get(*, workload: ComputeWorkload, rank: int) -> Recommendation | None:
    """Option ``rank`` (1–3) of ``workload``, or None when there is no such option (yet)."""
    return recommendation_list(workload=workload).filter(rank=rank).first()


def outcome_get(*, workload: ComputeWorkload) -> SchedulingOutcome | None:
    return SchedulingOutcome.objects.filter(workload=workload).first()


#: The queue's order, most urgent first: CRITICAL first, then the nearest deadline (none last), then
#: the oldest, the id breaking ties. ``workload_org_queue_idx`` holds it after the organisation and status.
QUEUE_ORDER = ("-urgency_rank", F("deadline").asc(nulls_last=True), "submitted_at", "id")


def queue_scope(*, fetched_by: User) -> dict[str, Any]:
    """The column lookups ``queue_list`` adds to ``workload_list``'s fixed query: the workload scope's
    (``workload_selectors.workload_scope``), then the status (what ``pylon.db.compiled`` relies on)."""
    return {**workload_selectors.workload_scope(fetched_by=fetched_by), "status": WorkloadStatus.PENDING}


def queue_list(*, fetched_by: User) -> QuerySet[ComputeWorkload]:
    """PENDING workloads the caller sees, most urgent first (``QUEUE_ORDER``)."""
    return (
        workload_selectors.workload_list(fetched_by=fetched_by)
        .filter(status=WorkloadStatus.PENDING)
        .order_by(*QUEUE_ORDER)
    )


def queue_with_options(queue: QuerySet[ComputeWorkload]) -> QuerySet[ComputeWorkload]:
    """``queue`` (from ``queue_list``) with each workload's outcome and ranked options
    (``ranked_recommendations``) loaded in a fixed number of queries: for reading it as objects."""
    return queue.select_related("scheduling_outcome").prefetch_related(
        Prefetch(
            "recommendations",
            queryset=Recommendation.objects.select_related("zone").order_by("rank"),
            to_attr="ranked_recommendations",
        )
    )


def queue_options(*, workload_ids: list, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """The options of workloads the caller already sees (read through ``queue_list``): ``values()``
    rows of ``workload_id`` and ``columns``, by workload and rank. One query whatever the number, its
    SQL compiled once per number of workloads (``pylon.db.compiled``)."""
    return compiled.values(
        ("queue_options", columns, len(workload_ids)),
        list(workload_ids),
        lambda: (
            Recommendation.objects.filter(workload_id__in=workload_ids)
            .order_by("workload_id", "rank")
            .values("workload_id", *columns)
        ),
    )


def queue_outcomes(*, workload_ids: list, columns: tuple[str, ...]) -> dict[Any, dict[str, Any]]:
    """``workload_id → values() row of columns`` of the outcomes of workloads the caller already sees
    (read through ``queue_list``). One query, compiled as ``queue_options``'s."""
    rows = compiled.values(
        ("queue_outcomes", columns, len(workload_ids)),
        list(workload_ids),
        lambda: SchedulingOutcome.objects.filter(workload_id__in=workload_ids).values("workload_id", *columns),
    )
    return {row.pop("workload_id"): row for row in rows}


def pending_ids_in_priority_order(*, organization_id=None) -> list:
    """Every PENDING workload id (of one organisation, when given), most urgent first: the order
    the chunks of a recompute are enqueued in."""
    pending = ComputeWorkload.objects.filter(status=WorkloadStatus.PENDING)
    if organization_id is not None:
        pending = pending.filter(organization_id=organization_id)
    return list(pending.order_by(*QUEUE_ORDER).values_list("id", flat=True))


def pending_ids_needing_recommendations(*, changed_before=None) -> list:
    """PENDING workloads whose last computation is missing or older than their last change: e.g. the
    broker was down when they were submitted, or a worker died mid-task. The sweep enqueues them."""
    stale = ComputeWorkload.objects.filter(status=WorkloadStatus.PENDING).filter(
        Q(scheduling_outcome__isnull=True) | Q(scheduling_outcome__workload_updated_at__lt=F("updated_at"))
    )
    if changed_before is not None:
        stale = stale.filter(updated_at__lt=changed_before)
    return list(stale.order_by("submitted_at").values_list("id", flat=True))


@dataclass
class AppliedPolicy:
    policy_preset: str
    carbon_weight: float
    price_weight: float
    wait_weight: float


@dataclass
class Preview:
    """What ``options_preview`` found for an unsaved workload (``SchedulingPreviewSerializer``)."""

    feasible: bool
    options: list[Recommendation]
    infeasibility: dict[str, str] | None
    baseline: dict[str, Any] | None
    energy_kwh: float
    energy_was_estimated: bool
    policy: AppliedPolicy
    forecast_fetched_at: datetime | None


def options_preview(*, fetched_by: User, data: dict[str, Any], now: datetime | None = None) -> Preview:
    """The ranked options a workload with ``data`` (validated submission fields) would get if
    submitted now, under the caller's organisation's policy. Reads only; stores nothing."""
    now = now or timezone.now()
    context = inputs.context_load(now=now)
    policy = (
        policy_get(organization_id=fetched_by.organization_id)
        if fetched_by.organization_id
        else SchedulingPolicy.default_for(None)
    )
    plan = engine.rank_options(
        inputs.unsaved_workload_input(data, now=now),
        context.zone_inputs,
        context.grid,
        context.reservations,
        policy.weights,
        now,
        top_k=3,
    )
    zones = {option.zone: context.zone(option.zone) for option in plan.options}
    options = rows.recommendation_rows(
        plan,
        make=rows.new_recommendation.maker(),
        workload_id=None,
        zone_pk={code: zone.pk for code, zone in zones.items()},
    )
    for recommendation, option in zip(options, plan.options, strict=True):
        recommendation.zone = zones[option.zone]  # the serializer shows it: no query per option
    baseline = None
    if plan.baseline is not None:
        baseline = {
            "zone": context.zone(plan.baseline.zone),
            "start": plan.baseline.start,
            "end": plan.baseline.end,
            "emissions_kg": plan.baseline.emissions_g / 1000.0,
            "cost_gbp": plan.baseline.cost_gbp,
        }
    weights = policy.weights
    return Preview(
        feasible=plan.infeasible is None,
        options=options,
        infeasibility=None
        if plan.infeasible is None
        else {"constraint": str(plan.infeasible.constraint), "message": plan.infeasible.message},
        baseline=baseline,
        energy_kwh=plan.energy_kwh_used,
        energy_was_estimated=plan.energy_was_estimated,
        policy=AppliedPolicy(policy.preset, weights.carbon, weights.price, weights.wait),
        forecast_fetched_at=context.forecast_fetched_at,
    )
