"""Demo workloads in every status, driven through the services so that their timelines, accounting
and (once the scheduling app is wired) recommendations are the real thing."""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from workloads import services
from workloads.models import ComputeWorkload
from zones.models import GridZone

# (name, type, urgency, host code, chosen code, GPU-minutes, energy kWh, measured kWh, final status)
DEMO_WORKLOADS = [
    (
        "LLM pre-training shard 7",
        "TRAINING_RUN",
        "LOW",
        "UK-SWALES-01",
        "UK-NSCOTLAND-01",
        2880,
        "420",
        "405.5",
        "COMPLETED",
    ),
    (
        "Diffusion fine-tune v3",
        "FINE_TUNING",
        "MEDIUM",
        "UK-LONDON-01",
        "UK-SCOTLAND-01",
        720,
        "96",
        "101.2",
        "COMPLETED",
    ),
    (
        "Nightly embeddings refresh",
        "INFERENCE_BATCH",
        "HIGH",
        "UK-WMIDLANDS-01",
        "UK-NEENGLAND-01",
        240,
        "28",
        None,
        "RUNNING",
    ),
    (
        "Protein folding sweep",
        "SIMULATION",
        "LOW",
        "UK-EMIDLANDS-01",
        "UK-NSCOTLAND-01",
        1440,
        "180",
        None,
        "SCHEDULED",
    ),
    ("Feature store backfill", "DATA_PROCESSING", "MEDIUM", "UK-SENGLAND-01", None, 0, "12", None, "PENDING"),
    ("Product render batch", "RENDERING", "CRITICAL", "UK-LONDON-01", "UK-LONDON-01", 180, "22", None, "FAILED"),
    ("Ablation study (superseded)", "TRAINING_RUN", "LOW", "UK-YORKSHIRE-01", None, 600, "75", None, "CANCELLED"),
]


def _backdate(workload: ComputeWorkload, *, days_ago: float) -> ComputeWorkload:
    """Move a finished demo run into the past with a realistic run length, and account it for that
    period (the demo's history has real recorded intensities there)."""
    end = workload.actual_end - timedelta(days=days_ago)
    start = end - timedelta(minutes=workload.estimated_duration_mins)
    submitted = start - timedelta(minutes=90)
    ComputeWorkload.objects.filter(pk=workload.pk).update(
        submitted_at=submitted, planned_start=start, actual_start=start, actual_end=end
    )
    workload.events.filter(action="submit").update(created_at=submitted)
    workload.events.filter(action="assign").update(created_at=submitted + timedelta(minutes=5))
    workload.events.filter(action="start").update(created_at=start)
    workload.events.filter(action="complete").update(created_at=end)
    workload.refresh_from_db()
    return services.workload_recompute_accounting(workload=workload)


@transaction.atomic
def seed_workloads() -> int:
    """Give each demo user workloads in every status (idempotent: skipped once they have any)."""
    zones = {zone.grid_zone_code: zone for zone in GridZone.objects.all()}
    users = User.objects.filter(role=Role.USER, organization__isnull=False, email__endswith=".example")
    created = 0
    for user in users.select_related("organization"):
        if ComputeWorkload.objects.filter(user=user).exists():
            continue
        operator = User.objects.filter(organization=user.organization, role=Role.OPERATOR).first()
        for index, (name, kind, urgency, host, chosen, gpu_mins, energy, measured, final) in enumerate(DEMO_WORKLOADS):
            workload = services.workload_create(
                user=user,
                data={
                    "workload_name": name,
                    "workload_type": kind,
                    "urgency": urgency,
                    "host_dc": zones[host],
                    "required_gpu_mins": Decimal(gpu_mins),
                    "required_cpu_cores": 16,
                    "required_memory_gb": Decimal(128),
                    "estimated_energy_kwh": Decimal(energy),
                    "deferral_window_mins": 0 if urgency == "CRITICAL" else 360,
                    "is_deferrable": urgency != "CRITICAL",
                    "deadline": timezone.now() + timedelta(days=3),
                },
            )
            created += 1
            if final == "CANCELLED":
                services.workload_cancel(workload=workload, actor=user, note="Superseded by a newer run.")
            if final in ("SCHEDULED", "RUNNING", "COMPLETED", "FAILED"):
                workload = services.workload_assign(workload=workload, actor=operator, zone=zones[chosen])
            if final in ("RUNNING", "COMPLETED", "FAILED"):
                workload = services.workload_start(workload=workload, actor=operator)
            if final == "COMPLETED":
                measured_kwh = Decimal(measured) if measured else None
                workload = services.workload_complete(
                    workload=workload, actor=operator, measured_energy_kwh=measured_kwh
                )
                _backdate(workload, days_ago=2 + index)
            if final == "FAILED":
                services.workload_fail(workload=workload, actor=operator, note="Node lost power mid-render.")
    return created
