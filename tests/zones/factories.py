from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from zones.models import GridZone


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
