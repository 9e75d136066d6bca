from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from tests.accounts.factories import UserFactory
from tests.zones.factories import GridZoneFactory
from workloads import capacity
from workloads.models import ComputeWorkload, Urgency, WorkloadStatus, WorkloadType


class WorkloadFactory(DjangoModelFactory):
    """A PENDING workload. Later statuses: pass ``status`` and the fields it implies
    (``chosen_grid_zone`` for SCHEDULED and beyond), or drive it through the services. A SCHEDULED or
    RUNNING one holds its capacity in the ledger, as the services would have written it."""

    class Meta:
        model = ComputeWorkload
        skip_postgeneration_save = True

    job_id = factory.Sequence(lambda n: f"JOB-TEST-{n:06d}")
    user = factory.SubFactory(UserFactory)
    organization = factory.LazyAttribute(lambda o: o.user.organization)
    workload_name = factory.Sequence(lambda n: f"Workload {n}")
    workload_type = WorkloadType.TRAINING_RUN
    urgency = Urgency.MEDIUM
    status = WorkloadStatus.PENDING
    host_dc = factory.SubFactory(GridZoneFactory)
    required_gpu_mins = Decimal("120")
    required_cpu_cores = 8
    required_memory_gb = Decimal("64")
    estimated_energy_kwh = Decimal("50")
    estimated_duration_mins = 120
    deferral_window_mins = 240
    deadline = factory.LazyFunction(lambda: timezone.now() + timedelta(days=2))
    is_deferrable = True

    @factory.post_generation
    def capacity_holds(obj, create, extracted, **kwargs):
        if not create or obj.status not in (WorkloadStatus.SCHEDULED, WorkloadStatus.RUNNING):
            return
        start = obj.actual_start or obj.planned_start or obj.submitted_at
        end = start + timedelta(minutes=obj.estimated_duration_mins)
        capacity.hold(workload=obj, zone_id=obj.chosen_grid_zone_id, start=start, end=end)
