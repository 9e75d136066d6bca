"""What the benchmark commands share: they work in a transaction they roll back, on a zone of their own."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from django.db import transaction

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
