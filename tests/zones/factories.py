from datetime import UTC, datetime, timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from zones.models import CarbonSource, GridZone, ZoneIntensityReading, ZonePriceReading


class GridZoneFactory(DjangoModelFactory):
    class Meta:
        model = GridZone

    zone_id = factory.Sequence(lambda n: f"ZN-{n}")
    zone_name = factory.Sequence(lambda n: f"Zone {n} Grid Cluster")
    grid_zone_code = factory.Sequence(lambda n: f"UK-TEST-{n:03d}")
    region = "London"
    country = "United Kingdom"
    latitude = Decimal("51.50000")
    longitude = Decimal("-0.12000")
    carbon_intensity = Decimal("150.00")
    energy_price = Decimal("0.2500")
    neso_region_id = 13


class ZoneIntensityReadingFactory(DjangoModelFactory):
    class Meta:
        model = ZoneIntensityReading

    zone = factory.SubFactory(GridZoneFactory)
    period_start = factory.Sequence(lambda n: datetime(2026, 3, 1, tzinfo=UTC) + n * timedelta(minutes=30))
    period_end = factory.LazyAttribute(lambda o: o.period_start + timedelta(minutes=30))
    forecast = 150.0
    actual = None
    index = "moderate"
    source = CarbonSource.NESO
    fetched_at = factory.LazyFunction(timezone.now)


class ZonePriceReadingFactory(DjangoModelFactory):
    class Meta:
        model = ZonePriceReading

    zone = factory.SubFactory(GridZoneFactory)
    period_start = factory.Sequence(lambda n: datetime(2026, 3, 1, tzinfo=UTC) + n * timedelta(minutes=30))
    period_end = factory.LazyAttribute(lambda o: o.period_start + timedelta(minutes=30))
    price = Decimal("0.3000")
    source = CarbonSource.FILE
    fetched_at = factory.LazyFunction(timezone.now)
