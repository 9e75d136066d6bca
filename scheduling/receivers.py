"""What scheduling does inside another app's transaction (connected in ``SchedulingConfig.ready``).

A notification is a row, not a task: it is written in the transition's own transaction. Work that
may run later reacts to outbox events instead (``scheduling.handlers``).
"""

from django.db import transaction

from scheduling import operator_notifications, owner_notifications
from workloads import signals as workload_signals


def on_workload_transitioned(sender, workload_id, action, from_status, to_status, actor_id=None, **kwargs) -> None:
    # A savepoint: should the notification fail to save, the signal (sent robustly) logs it and the
    # transition's transaction stays usable, instead of being left aborted on PostgreSQL.
    with transaction.atomic():
        owner_notifications.notification_for_transition(
            workload_id=workload_id, action=action, to_status=to_status, actor_id=actor_id
        )


def on_capacity_overbooked(sender, overbookings, **kwargs) -> None:
    with transaction.atomic():  # a savepoint, as above
        operator_notifications.notify_overbooked(overbookings=overbookings)


def connect() -> None:
    workload_signals.workload_transitioned.connect(on_workload_transitioned, dispatch_uid="scheduling.transitioned")
    workload_signals.capacity_overbooked.connect(on_capacity_overbooked, dispatch_uid="scheduling.overbooked")
