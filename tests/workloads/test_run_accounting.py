"""A run is accounted by the engine's one rule (``engine.time_weighted_mean``): time-weighted over its
half hours, an unknown half hour never zero — at the zone's current figure here."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from scheduling import engine
from tests.zones.factories import GridZoneFactory, ZoneIntensityReadingFactory
from workloads import selectors

T0 = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
HALF = timedelta(minutes=30)


@pytest.mark.django_db
def test_zone_mean_figures_are_time_weighted_with_fallback():
    zone = GridZoneFactory(carbon_intensity=Decimal("200"), energy_price=Decimal("0.2"))
    ZoneIntensityReadingFactory(zone=zone, period_start=T0, forecast=100)
    intensity, price = selectors.zone_mean_figures(zone=zone, start=T0 + timedelta(minutes=15), end=T0 + HALF * 2)
    # 15 minutes at 100, 30 minutes uncovered at the zone's current 200
    assert intensity == Decimal("166.67") and price == Decimal("0.2000")
    assert selectors.zone_mean_figures(zone=zone, start=T0, end=T0) == (Decimal("200"), Decimal("0.2"))


def test_one_rule_for_an_unknown_half_hour():
    series = [100.0, float("nan"), 300.0]
    # Half of slot 0, all of slot 1, half of slot 2: weights 0.5, 1, 0.5 over 2 slots.
    assert engine.time_weighted_mean(series, 0.5, 2.5, fallback=200.0) == pytest.approx(200.0)
    assert engine.time_weighted_mean(series, 0.5, 2.5) is None  # unknown, never zero
    assert engine.time_weighted_mean(series, 2.0, 2.5) == pytest.approx(300.0)
