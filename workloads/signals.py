"""What the workloads app tells the rest of Pylon. Receivers that start background work must
defer it with ``transaction.on_commit``: these are sent inside the writing transaction."""

from django.dispatch import Signal

#: Workloads were submitted: one, or a whole batch at once. Arguments: ``workload_ids`` (a list).
workload_submitted = Signal()
#: A PENDING workload's user-owned fields changed. Arguments: ``workload_id``.
workload_changed = Signal()
#: A lifecycle action moved a workload. Arguments: ``workload_id``, ``action``, ``from_status``, ``to_status``,
#: ``actor_id`` (None when Pylon acted by itself, e.g. a policy's auto-assignment).
workload_transitioned = Signal()
