"""The operators' console for workloads: the list, the queue and each workload's page.

Rows come through the same selectors as the API, so a staff operator sees only their
organisation's workloads; every action goes through the same services and state machine.
"""

from workloads.admin.overbooking import CapacityOverbookingAdmin
from workloads.admin.workloads import ComputeWorkloadAdmin, WorkloadEventAdmin

__all__ = ["CapacityOverbookingAdmin", "ComputeWorkloadAdmin", "WorkloadEventAdmin"]
