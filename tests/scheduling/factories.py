"""Factories and helpers of the scheduling tests. Workloads come from ``tests.workloads.factories``."""

import uuid
from datetime import datetime, timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from scheduling.models import Recommendation, SchedulingOutcome, SchedulingPolicy
from tests.accounts.factories import OrganizationFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from zones.models import CarbonSource, GridZone, ZoneIntensityReading, ZonePriceReading
from zones.providers.base import floor_half_hour

__all__ = [
    "GridZoneFactory",
    "OutcomeFactory",
    "PolicyFactory",
    "RecommendationFactory",
    "WorkloadFactory",
    "set_forecast",
]


class PolicyFactory(DjangoModelFactory):
    class Meta:
        model = SchedulingPolicy

    organization = factory.SubFactory(OrganizationFactory)
    preset = "CARBON_FIRST"
    carbon_weight = 1
    price_weight = 0
    wait_weight = 0
    auto_assign = False


class RecommendationFactory(DjangoModelFactory):
    """A stored option, as a recompute writes it (figures made up, consistent with each other)."""

    class Meta:
        model = Recommendation

    workload = factory.SubFactory(WorkloadFactory)
    rank = 1
    zone = factory.SubFactory(GridZoneFactory)
    start = factory.LazyFunction(lambda: floor_half_hour(timezone.now()) + timedelta(minutes=30))
    end = factory.LazyAttribute(lambda o: o.start + timedelta(minutes=o.workload.estimated_duration_mins))
    expected_emissions_kg = 2.5
    expected_cost_gbp = 7.25
    carbon_saving_kg = 4.0
    cost_saving_gbp = 1.5
    mean_intensity = 50.0
    mean_price = 0.145
    wait_mins = 30.0
    score = 0.42
    score_carbon = 0.38
    score_price = 0.83
    score_wait = 0.12
    energy_kwh = 50.0
    computed_at = factory.LazyFunction(timezone.now)
    run_id = factory.LazyFunction(uuid.uuid4)


class OutcomeFactory(DjangoModelFactory):
    class Meta:
        model = SchedulingOutcome

    workload = factory.SubFactory(WorkloadFactory)
    feasible = True
    baseline_emissions_kg = 6.5
    baseline_cost_gbp = 8.75
    energy_kwh = 50.0
    policy_preset = "BALANCED"
    carbon_weight = 1.0
    price_weight = 1.0
    wait_weight = 0.5
    workload_updated_at = factory.LazyAttribute(lambda o: o.workload.updated_at)
    computed_at = factory.LazyFunction(timezone.now)
    run_id = factory.LazyFunction(uuid.uuid4)


HALF_HOUR = timedelta(minutes=30)


def set_forecast(
    zone: GridZone,
    values,
    *,
    start: datetime | None = None,
    slots: int = 96,
    prices=None,
    fetched_at: datetime | None = None,
) -> None:
    """Give ``zone`` a half-hourly forecast from the half hour containing ``start`` (default now).

    ``values``/``prices``: one number for every slot, or a list (``None`` leaves a slot unknown).
    """
    start = floor_half_hour(start or timezone.now())
    fetched_at = fetched_at or timezone.now()

    def store(model, field: str, series) -> None:
        series = series if isinstance(series, list) else [series] * slots
        model.objects.bulk_create(
            model(
                zone=zone,
                period_start=start + i * HALF_HOUR,
                period_end=start + (i + 1) * HALF_HOUR,
                source=CarbonSource.FILE,
                fetched_at=fetched_at,
                **{field: value},
            )
            for i, value in enumerate(series)
            if value is not None
        )

    store(ZoneIntensityReading, "forecast", values)
    if prices is not None:
        store(ZonePriceReading, "price", prices)
