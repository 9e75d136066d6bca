from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from tests.accounts.factories import UserFactory
from tests.zones.factories import GridZoneFactory
from workloads.models import ComputeWorkload, Urgency, WorkloadStatus, WorkloadType


class WorkloadFactory(DjangoModelFactory):
    """A PENDING workload. Later statuses: pass ``status`` and the fields it implies
    (``chosen_grid_zone`` for SCHEDULED and beyond), or drive it through the services."""

    class Meta:
        model = ComputeWorkload

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
