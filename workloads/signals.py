"""What the workloads app tells the rest of Pylon synchronously, inside the writing transaction.

Work that may run later (recomputing recommendations, webhooks) reacts to the outbox events the
services record instead (``outbox``); a signal is for what must commit with the change itself.
"""

from django.dispatch import Signal

#: A lifecycle action moved a workload. Arguments: ``workload_id``, ``action``, ``from_status``, ``to_status``,
#: ``actor_id`` (None when Pylon acted by itself, e.g. a policy's auto-assignment).
workload_transitioned = Signal()

#: Late starts, overruns or an operator's override left a zone's half hours over its capacity; sent
#: once per overbooked window, under the zones' locks (``workloads.overbooking``). Argument:
#: ``overbookings``, a list of ``workloads.overbooking.Overbooking``.
capacity_overbooked = Signal()
