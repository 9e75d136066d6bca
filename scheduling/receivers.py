"""How scheduling reacts to the rest of Pylon (connected in ``SchedulingConfig.ready``).

Background work is enqueued after commit through ``pylon.background`` (a task must never see a
workload that is not committed yet, nor run for one whose transaction rolled back); if the broker is
down the request still succeeds and the periodic sweep (``tasks.sweep_unrecommended``) computes the
workload later. A notification is a row, not a task: it is written in the transition's own
transaction.
"""

from django.db import transaction

from pylon import background
from scheduling import owner_notifications
from scheduling.services import RECOMMEND_TASK, RECOMPUTE_PENDING_TASK
from workloads import signals as workload_signals
from zones import signals as zone_signals


def _recommend_after_commit(workload_ids) -> None:
    background.enqueue_on_commit(RECOMMEND_TASK, workload_ids=[str(pk) for pk in workload_ids])


def on_workload_submitted(sender, workload_ids, **kwargs) -> None:
    """One task for the whole submission: a batch of 5,000 is one run of the vectorised engine."""
    _recommend_after_commit(workload_ids)


def on_workload_changed(sender, workload_id, **kwargs) -> None:
    _recommend_after_commit([workload_id])


def on_workload_transitioned(sender, workload_id, action, from_status, to_status, actor_id=None, **kwargs) -> None:
    # A savepoint: should the notification fail to save, the signal (sent robustly) logs it and the
    # transition's transaction stays usable, instead of being left aborted on PostgreSQL.
    with transaction.atomic():
        owner_notifications.notification_for_transition(
            workload_id=workload_id, action=action, to_status=to_status, actor_id=actor_id
        )


def on_carbon_data_refreshed(sender, zone_ids=None, **kwargs) -> None:
    """New forecasts: recompute every PENDING workload (all zones compete, so not only those in
    ``zone_ids``: a cleaner forecast anywhere can change every workload's ranking)."""
    background.enqueue_on_commit(RECOMPUTE_PENDING_TASK)


def connect() -> None:
    workload_signals.workload_submitted.connect(on_workload_submitted, dispatch_uid="scheduling.submitted")
    workload_signals.workload_changed.connect(on_workload_changed, dispatch_uid="scheduling.changed")
    workload_signals.workload_transitioned.connect(on_workload_transitioned, dispatch_uid="scheduling.transitioned")
    zone_signals.carbon_data_refreshed.connect(on_carbon_data_refreshed, dispatch_uid="scheduling.carbon_refreshed")
