from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from tests.scheduling.factories import GridZoneFactory, set_forecast

#: Tests run at a fixed instant, ten minutes into a half hour (so "start now" is mid-slot).
NOW = datetime(2026, 11, 23, 10, 10, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def grid_zones(db, frozen):
    """Three zones with flat forecasts: clean (50 g/kWh, dear), mid (150) and dirty (300, cheap)."""
    clean = GridZoneFactory(zone_name="Clean", energy_price=Decimal("0.40"), gpu_capacity=8)
    mid = GridZoneFactory(zone_name="Mid", energy_price=Decimal("0.25"), gpu_capacity=8)
    dirty = GridZoneFactory(zone_name="Dirty", energy_price=Decimal("0.10"), gpu_capacity=8)
    for zone, value in ((clean, 50.0), (mid, 150.0), (dirty, 300.0)):
        set_forecast(zone, value)
    return {"clean": clean, "mid": mid, "dirty": dirty}
