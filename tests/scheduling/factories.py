"""Factories and helpers of the scheduling tests. Workloads come from ``tests.workloads.factories``."""

from datetime import datetime, timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from scheduling.models import SchedulingPolicy
from tests.accounts.factories import OrganizationFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from zones.models import CarbonSource, GridZone, ZoneIntensityReading, ZonePriceReading
from zones.providers.base import floor_half_hour

__all__ = ["GridZoneFactory", "PolicyFactory", "WorkloadFactory", "set_forecast"]


class PolicyFactory(DjangoModelFactory):
    class Meta:
        model = SchedulingPolicy

    organization = factory.SubFactory(OrganizationFactory)
    preset = "CARBON_FIRST"
    carbon_weight = 1
    price_weight = 0
    wait_weight = 0
    auto_assign = False


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
