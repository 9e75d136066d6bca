"""Writes for scheduling: assignment (by a policy, or from a recommendation) and policies. The
recompute of recommendations is ``scheduling.recompute``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from notifications import services as notification_services
from outbox import services as outbox
from outbox.models import EventType
from pylon import background
from pylon.core.exceptions import ApplicationError
from scheduling import engine, owner_notifications, selectors
from scheduling.models import PRESET_WEIGHTS, PolicyPreset, Recommendation, SchedulingPolicy
from workloads import capacity as workload_capacity
from workloads import services as workload_services
from workloads.models import ComputeWorkload, WorkloadStatus
from workloads.state_machine import WorkloadAction, next_status
from zones.models import GridZone

logger = logging.getLogger(__name__)

#: Found by name (``scheduling.handlers`` enqueues it too).
RECOMMEND_TASK = "scheduling.tasks.recommend_workloads"

# -- assignment by a policy ------------------------------------------------------------------------


def workloads_auto_assign(
    *, candidates: list[tuple[dict[str, Any], list[Recommendation]]], policies: dict, zones: Iterable
) -> list:
    """Assign each candidate its best option that still fits, by policy (``actor=None``), one
    transaction each.

    ``workload_assign`` re-checks the zone's capacity against the ledger under the zone's lock, so a
    workload whose first option filled up meanwhile (another chunk, an operator) falls back to its
    next one, at the start the engine checked — never moved to a half hour it did not check. When
    none fits, it stays PENDING, its owner is told, and its options are computed again against what
    is held now (its stored ones are full; the next forecast's recompute would catch it too). A
    workload that an operator assigned or cancelled meanwhile fails the state machine's check and is
    left alone; so is one whose options no longer fit its deadline.
    """
    by_pk = ComputeWorkload.objects.in_bulk([row["id"] for row, _ in candidates])
    zones = {zone.pk: zone for zone in zones}
    assigned, outdated = [], []
    for row, ranked in candidates:
        workload = by_pk.get(row["id"])
        if workload is None or workload.status != WorkloadStatus.PENDING:
            continue
        policy = policies[row["organization_id"]]
        full = []
        for rank, option in enumerate(ranked, start=1):
            zone = zones[option.zone_id]
            try:
                workload_services.workload_assign(
                    workload=workload,
                    actor=None,
                    zone=zone,
                    planned_start=option.start,
                    note=_auto_assign_note(policy, rank, option, zone),
                )
            except workload_capacity.CapacityExceeded:
                full.append(zone.zone_name)
                continue
            except ValidationError as exc:  # this option's start has passed, or it ends after the deadline
                logger.info("auto-assign of %s: option #%d skipped: %s", workload.pk, rank, exc)
                continue
            except (ApplicationError, PermissionDenied) as exc:  # assigned or cancelled meanwhile
                logger.info("auto-assign of %s skipped: %s", workload.pk, exc)
                break
            assigned.append(workload.pk)
            break
        else:
            if full:
                notification_services.notification_create_many(
                    drafts=[owner_notifications.auto_assign_failed_draft(row, full)]
                )
                outdated.append(str(workload.pk))
    if outdated:
        background.enqueue_on_commit(RECOMMEND_TASK, workload_ids=outdated)
    return assigned


def _auto_assign_note(policy: SchedulingPolicy, rank: int, option: Recommendation, zone) -> str:
    return (
        f"Assigned automatically by the organisation's {policy.preset} policy: recommendation #{rank}, "
        f"{zone.zone_name} from {engine.fmt_time(option.start)}, expected {option.expected_emissions_kg:.3f} kg CO2"
        + (
            "."
            if option.carbon_saving_kg is None
            else f" ({option.carbon_saving_kg:.3f} kg less than at once in the host zone)."
        )
    )


# -- assignment by an operator --------------------------------------------------------------------


def assignment_create(
    *,
    workload: ComputeWorkload,
    actor: User,
    rank: int | None = None,
    zone: GridZone | None = None,
    start: datetime | None = None,
    note: str = "",
    reassign: bool = False,
    override_capacity: bool = False,
) -> ComputeWorkload:
    """An operator assigns ``workload``: the zone and start of its recommendation ``rank`` (1–3), or
    (without a rank) ``zone`` and ``start`` of their own, ``note`` saying why. The one entry point of
    the assign endpoint; the state machine and the event log are ``workloads.services.workload_assign``'s.
    """
    if rank is not None:
        return assignment_from_recommendation(
            workload=workload,
            actor=actor,
            rank=rank,
            note=note,
            reassign=reassign,
            override_capacity=override_capacity,
        )
    return workload_services.workload_assign(
        workload=workload,
        actor=actor,
        zone=zone,
        planned_start=start,
        note=note,
        reassign=reassign,
        override_capacity=override_capacity,
    )


def assignment_from_recommendation(
    *,
    workload: ComputeWorkload,
    actor: User,
    rank: int,
    note: str = "",
    reassign: bool = False,
    override_capacity: bool = False,
) -> ComputeWorkload:
    """Assign ``workload`` the zone and start of its recommendation ``rank`` (1–3).

    The event log records which recommendation was taken and what it expected, then the operator's
    note. A start that has passed meanwhile becomes "now" (``workload_assign`` refuses starts in the
    past); the deadline is still checked there. No such recommendation is a 400 naming ``rank``.
    """
    # The state machine first: a RUNNING workload is refused for what it is, not for lacking options.
    next_status(WorkloadAction.REASSIGN if reassign else WorkloadAction.ASSIGN, workload.status)
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
        override_capacity=override_capacity,
    )


# -- policies ------------------------------------------------------------------------------------

POLICY_WEIGHT_FIELDS = ("carbon_weight", "price_weight", "wait_weight")


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


def policies_ensure(*, organization_ids) -> None:
    """Give every one of these organisations a stored policy (the BALANCED default where it has
    none), so operators always find theirs to edit. Two queries whatever the count."""
    wanted = set(organization_ids)
    have = set(SchedulingPolicy.objects.filter(organization_id__in=wanted).values_list("organization_id", flat=True))
    missing = [SchedulingPolicy.default_for(organization_id) for organization_id in wanted - have]
    SchedulingPolicy.objects.bulk_create(missing, ignore_conflicts=True)


@transaction.atomic
def policy_update(*, organization_id, actor: User, data: dict[str, Any]) -> SchedulingPolicy:
    """Set an organisation's policy (operators of that organisation, or the service role).

    A preset sets its own weights: sending different ones with it is a 400 (choose CUSTOM). CUSTOM
    keeps the weights sent (and the current ones for those not sent); at least one must be positive.
    Changing the policy recomputes the organisation's PENDING workloads after commit.
    """
    if not actor.operates(organization_id):
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
        # Its pending workloads are recomputed after the commit (``scheduling.handlers``).
        outbox.event_record(
            type=EventType.POLICY_CHANGED,
            organization_id=organization_id,
            actor=actor,
            payload={"preset": policy.preset, "auto_assign": policy.auto_assign},
        )
    return policy
