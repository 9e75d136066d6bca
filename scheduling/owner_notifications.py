"""What scheduling tells a workload's owner, through ``notifications.services``: that their workload
moved (assigned or moved, started, completed, failed, cancelled by someone else) and that it cannot
be scheduled. The texts are this app's; storing and reading notifications is the notifications app's."""

from __future__ import annotations

from typing import Any

from notifications import services as notification_services
from notifications.models import Notification, NotificationKind
from notifications.services import NotificationDraft
from scheduling import engine
from workloads import selectors as workload_selectors
from workloads.models import ComputeWorkload, WorkloadStatus
from workloads.state_machine import WorkloadAction

TRANSITION_KINDS = {
    WorkloadStatus.SCHEDULED: NotificationKind.ASSIGNED,
    WorkloadStatus.RUNNING: NotificationKind.STARTED,
    WorkloadStatus.COMPLETED: NotificationKind.COMPLETED,
    WorkloadStatus.FAILED: NotificationKind.FAILED,
    WorkloadStatus.CANCELLED: NotificationKind.CANCELLED,
}


def notification_for_transition(*, workload_id, action: str, to_status: str, actor_id) -> Notification | None:
    """Tell the owner their workload moved; ``actor_id`` None means the scheduling policy did it.
    Cancelling one's own workload tells nobody. One query and one insert, in the transition's
    transaction."""
    kind = TRANSITION_KINDS.get(to_status)
    if kind is None:
        return None
    workload = workload_selectors.workload_for_notification(workload_id=workload_id)
    if workload is None:
        return None
    if kind == NotificationKind.CANCELLED and actor_id == workload.user_id:
        return None  # the owner cancelled it themselves
    title, body = _transition_text(workload, kind, action, by_policy=actor_id is None)
    return notification_services.notification_create(
        user=workload.user, kind=kind, title=title, body=body, workload_id=workload.pk
    )


def _transition_text(workload: ComputeWorkload, kind: str, action: str, *, by_policy: bool) -> tuple[str, str]:
    name, job = workload.workload_name, workload.job_id
    zone = workload.chosen_grid_zone.zone_name if workload.chosen_grid_zone else "its zone"
    if kind == NotificationKind.ASSIGNED:
        verb = "moved" if action == WorkloadAction.REASSIGN else "scheduled"
        when = f" from {engine.fmt_time(workload.planned_start)}" if workload.planned_start else ""
        who = " by your organisation's scheduling policy" if by_policy else ""
        return f"{job} is {verb}", f"“{name}” was {verb}{who} to run in {zone}{when}."
    if kind == NotificationKind.STARTED:
        return f"{job} started", f"“{name}” started running in {zone}."
    if kind == NotificationKind.COMPLETED:
        figures = ""
        if workload.carbon_emitted_kg is not None:
            figures = f" It emitted {workload.carbon_emitted_kg:.3f} kg CO2"
            if workload.baseline_carbon_kg is not None:
                saved = workload.baseline_carbon_kg - workload.carbon_emitted_kg
                figures += f", {saved:.3f} kg less than running at once in {workload.host_dc.zone_name}"
            figures += "."
        return f"{job} completed", f"“{name}” completed in {zone}.{figures}"
    if kind == NotificationKind.FAILED:
        return f"{job} failed", f"“{name}” failed. An operator of your organisation marked it failed."
    return f"{job} was cancelled", f"“{name}” was cancelled by an operator of your organisation."


def unschedulable_draft(row: dict[str, Any], infeasible: engine.Infeasibility) -> NotificationDraft:
    """The notification of a workload (a row of ``inputs.WORKLOAD_FIELDS``) that has just become
    unschedulable, with the engine's reason."""
    return NotificationDraft(
        recipient_id=row["user_id"],
        kind=NotificationKind.UNSCHEDULABLE,
        title=f"{row['job_id']} cannot be scheduled",
        body=f"“{row['workload_name']}” has no feasible zone and start: {infeasible.message.rstrip('.')}.",
        workload_id=row["id"],
    )


def auto_assign_failed_draft(row: dict[str, Any], full: list[str]) -> NotificationDraft:
    """The notification of a workload the policy could not assign: every option's zone had filled up."""
    return NotificationDraft(
        recipient_id=row["user_id"],
        kind=NotificationKind.UNSCHEDULABLE,
        title=f"{row['job_id']} could not be assigned automatically",
        body=f"“{row['workload_name']}” stays pending: its recommended zones filled up before it could be "
        f"assigned ({', '.join(full)}). Pylon recomputes its options at the next refresh; an operator may "
        "assign it meanwhile.",
        workload_id=row["id"],
    )
