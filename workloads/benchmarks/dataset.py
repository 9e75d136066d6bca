"""The read-path benchmark's rows: one organisation with an operator, three users and N workloads
(a fourth of them PENDING, each with three options and an outcome as a computation writes them, a
third of them without a deadline; the rest scheduled, running or finished; each naming five zones),
and a second organisation whose rows nobody in the first may see; and the inboxes: a notification about
each of the organisation's workloads to its owner and another to the operator (N for the operator,
a third of N for each user), and the stranger one about each of theirs. Written in bulk."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.api.serializers import add_profile_claims
from accounts.models import Organization, Role, User
from notifications.models import Notification, NotificationKind
from scheduling.models import Recommendation, SchedulingOutcome
from workloads.models import ComputeWorkload, Urgency, WorkloadStatus, WorkloadType
from zones.demo import seed_zones

BATCH = 5_000
OTHER_ORGANIZATION_ROWS = 500


@dataclass
class Callers:
    operator: User
    user: User
    in_scope: dict[str, int]
    scopes: dict[str, dict]
    #: Notifications in each caller's inbox.
    inbox: dict[str, int]
    #: PENDING workloads in the organisation: the operator's scheduling queue.
    queue: int


def access_token(user: User, *, hours: int = 6) -> str:
    """A real access token, as the token endpoint mints it, that outlives the benchmark."""
    token = add_profile_claims(RefreshToken.for_user(user), user).access_token
    token.set_exp(lifetime=timedelta(hours=hours))
    return str(token)


def _person(organization: Organization, email: str, role: str = Role.USER) -> User:
    return User.objects.create_user(
        email=email, password="benchmark-only", user_name=email.split("@")[0], organization=organization, role=role
    )


def build(*, workloads: int, seed: int = 7) -> Callers:
    rng = random.Random(seed)
    zones = seed_zones()
    home = Organization.objects.create(name="Benchmark Compute", slug="benchmark-compute")
    away = Organization.objects.create(name="Elsewhere", slug="benchmark-elsewhere")
    operator = _person(home, "ops@bench.example", Role.OPERATOR)
    members = [_person(home, f"member{i}@bench.example") for i in range(3)]
    stranger = _person(away, "someone@elsewhere.example")
    now = timezone.now()
    statuses = [
        WorkloadStatus.PENDING,
        WorkloadStatus.SCHEDULED,
        WorkloadStatus.RUNNING,
        WorkloadStatus.COMPLETED,
        WorkloadStatus.COMPLETED,
        WorkloadStatus.FAILED,
        WorkloadStatus.CANCELLED,
    ]
    owners = [*(members[i % 3] for i in range(workloads)), *([stranger] * OTHER_ORGANIZATION_ROWS)]

    def row(index: int, owner: User) -> ComputeWorkload:
        status = statuses[index % len(statuses)] if index % 4 else WorkloadStatus.PENDING
        picks = rng.sample(zones, 5)
        submitted = now - timedelta(minutes=index * 3 + rng.random())
        finished = status in (WorkloadStatus.COMPLETED, WorkloadStatus.FAILED)
        energy = Decimal(rng.randint(1, 500_000)) / 1000
        return ComputeWorkload(
            job_id=f"BENCH-{index:08d}",
            user=owner,
            organization_id=owner.organization_id,
            workload_name=f"Benchmark job {index}",
            workload_type=rng.choice(WorkloadType.values),
            urgency=rng.choice(Urgency.values),
            status=status,
            host_dc=picks[0],
            required_gpu_mins=Decimal(rng.randint(0, 48_000)) / 100,
            required_cpu_cores=rng.randint(0, 64),
            required_memory_gb=Decimal(rng.randint(0, 51_200)) / 100,
            estimated_energy_kwh=energy,
            estimated_duration_mins=rng.randint(30, 720),
            carbon_cap_gco2=Decimal(rng.randint(1, 10**7)) / 100 if index % 3 else None,
            max_price_gbp=Decimal(rng.randint(1, 10**5)) / 100 if index % 5 else None,
            deferral_window_mins=rng.choice([0, 60, 240, 1440]),
            deadline=submitted + timedelta(days=2, minutes=index % 7 * 30) if index % 3 else None,
            is_deferrable=bool(index % 3),
            recommended_grid_zone=picks[1],
            recommended_2_grid_zone=picks[2],
            recommended_3_grid_zone=picks[3],
            chosen_grid_zone=picks[4] if status != WorkloadStatus.PENDING else None,
            planned_start=submitted + timedelta(hours=1) if status != WorkloadStatus.PENDING else None,
            actual_energy_kwh=energy if finished else None,
            carbon_emitted_kg=energy * Decimal("0.1234") if status == WorkloadStatus.COMPLETED else None,
            cost_gbp=energy * Decimal("0.2512") if status == WorkloadStatus.COMPLETED else None,
            baseline_carbon_kg=energy * Decimal("0.2001") if status == WorkloadStatus.COMPLETED else None,
            baseline_cost_gbp=energy * Decimal("0.2710") if status == WorkloadStatus.COMPLETED else None,
            submitted_at=submitted,
            actual_start=submitted + timedelta(hours=1) if finished else None,
            actual_end=submitted + timedelta(hours=3) if finished else None,
        )

    def notification(workload: ComputeWorkload, recipient: User, index: int) -> Notification:
        kind = NotificationKind.values[index % len(NotificationKind.values)]
        return Notification(
            recipient=recipient,
            kind=kind,
            title=f"{workload.job_id}: {kind.lower()}",
            body=f"{workload.workload_name} is {workload.status.lower()}." if index % 2 else "",
            # One in ten is about no workload (a webhook endpoint disabled, a zone overbooked).
            workload=workload if index % 10 else None,
            created_at=workload.submitted_at + timedelta(seconds=30),
            read_at=workload.submitted_at + timedelta(hours=2) if index % 3 == 0 else None,
        )

    for start in range(0, len(owners), BATCH):
        batch = ComputeWorkload.objects.bulk_create(
            [row(index, owners[index]) for index in range(start, min(start + BATCH, len(owners)))]
        )
        inboxes = [
            notification(workload, recipient, index)
            for index, workload in enumerate(batch, start)
            for recipient in ((workload.user, operator) if index < workloads else (workload.user,))
        ]
        Notification.objects.bulk_create(inboxes)
        pending = [w for w in batch if w.status == WorkloadStatus.PENDING and w.organization_id == home.pk]
        Recommendation.objects.bulk_create(
            [_option(w, rank, zone, rng) for w in pending for rank, zone in enumerate(rng.sample(zones, 3), 1)]
        )
        SchedulingOutcome.objects.bulk_create([_outcome(w, index) for index, w in enumerate(pending)])
    scopes = {"operator": {"organization_id": home.pk}, "user": {"user_id": members[0].pk}}
    return Callers(
        operator=operator,
        user=members[0],
        in_scope={caller: ComputeWorkload.objects.filter(**scope).count() for caller, scope in scopes.items()},
        queue=ComputeWorkload.objects.filter(organization=home, status=WorkloadStatus.PENDING).count(),
        scopes=scopes,
        inbox={
            "operator": Notification.objects.filter(recipient=operator).count(),
            "user": Notification.objects.filter(recipient=members[0]).count(),
        },
    )


def _option(workload: ComputeWorkload, rank: int, zone, rng: random.Random) -> Recommendation:
    start = workload.submitted_at + timedelta(minutes=30 * rank)
    energy = float(workload.estimated_energy_kwh)
    return Recommendation(
        workload=workload,
        rank=rank,
        zone=zone,
        start=start,
        end=start + timedelta(minutes=workload.estimated_duration_mins),
        expected_emissions_kg=energy * rng.uniform(0.05, 0.3),
        expected_cost_gbp=energy * 0.21 if rank != 3 else None,
        carbon_saving_kg=energy * rng.uniform(0, 0.1) if rank != 3 else None,
        cost_saving_gbp=rng.uniform(0, 5),
        mean_intensity=rng.uniform(40, 300),
        mean_price=rng.uniform(0.1, 0.4),
        wait_mins=30.0 * rank,
        score=rng.random(),
        score_carbon=rng.random(),
        score_price=rng.random(),
        score_wait=rng.random(),
        energy_kwh=energy,
        forecast_fetched_at=workload.submitted_at if rank == 1 else None,
        computed_at=workload.submitted_at + timedelta(seconds=5),
        run_id=uuid.UUID(int=rng.getrandbits(128)),
    )


def _outcome(workload: ComputeWorkload, index: int) -> SchedulingOutcome:
    feasible = bool(index % 5)
    return SchedulingOutcome(
        workload=workload,
        feasible=feasible,
        constraint="" if feasible else "DEADLINE",
        message="" if feasible else "The deadline cannot be met.",
        baseline_emissions_kg=float(workload.estimated_energy_kwh) * 0.25,
        baseline_cost_gbp=float(workload.estimated_energy_kwh) * 0.27 if index % 3 else None,
        energy_kwh=float(workload.estimated_energy_kwh),
        energy_was_estimated=not index % 2,
        policy_preset="BALANCED",
        carbon_weight=0.4,
        price_weight=0.4,
        wait_weight=0.2,
        forecast_fetched_at=workload.submitted_at,
        workload_updated_at=workload.submitted_at,
        computed_at=workload.submitted_at + timedelta(seconds=5),
        run_id=uuid.UUID(int=index + 1),
    )
