"""What the benchmark commands share: they work in a transaction they roll back, on a zone of their
own, as a member of an organisation of their own."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.api.serializers import add_profile_claims
from accounts.models import Organization, User
from zones.models import GridZone


@contextmanager
def rolled_back() -> Iterator[None]:
    """Everything inside is undone at the end: a benchmark leaves the database as it found it."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def benchmark_zone(index: int = 0) -> GridZone:
    """A zone of the benchmark's own, with a code no real zone has."""
    tag = f"{uuid.uuid4().hex[:8]}-{index}"
    return GridZone.objects.create(
        zone_id=f"bench-{tag}",
        zone_name=f"Benchmark {index}",
        grid_zone_code=f"BENCH-{tag}",
        region="Benchmark",
        latitude=Decimal(51),
        longitude=Decimal(0),
        carbon_intensity=Decimal(150),
        energy_price=Decimal("0.25"),
        neso_region_id=13,
    )


def benchmark_member() -> User:
    """A member (email confirmed, so they may submit) of a new organisation of the benchmark's own."""
    tag = uuid.uuid4().hex[:8]
    organization = Organization.objects.create(name="Benchmark", slug=f"bench-{tag}")
    return User.objects.create(
        email=f"bench-{tag}@bench.example", organization=organization, email_verified_at=timezone.now()
    )


def sign_in(client: APIClient, user: User) -> None:
    """``client`` sends a fresh access token of ``user`` (a real JWT, good for minutes)."""
    access = add_profile_claims(RefreshToken.for_user(user), user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")


class BatchRoundsCommand(BaseCommand):
    """A benchmark of a batch upload of ``--rows`` workloads measured in ``--rounds`` rounds of each
    case, alternating: its options, their bounds, and the rolled-back transaction ``run`` works in."""

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=5000)
        parser.add_argument("--rounds", type=int, default=2, help="Rounds of each case, alternating (ABBA).")

    def handle(self, *args, **options):
        rows, rounds = options["rows"], options["rounds"]
        if not 1 <= rows <= 5000:
            raise CommandError("--rows must be between 1 and 5000 (the batch limit).")
        if rounds < 1:
            raise CommandError("--rounds must be at least 1.")
        with override_settings(ALLOWED_HOSTS=["testserver"]), rolled_back():
            self.run(rows, rounds)

    def run(self, rows: int, rounds: int) -> None:
        raise NotImplementedError
