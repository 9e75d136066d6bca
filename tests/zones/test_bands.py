"""One band rule everywhere: a figure is banded with the boundaries of the year of the half hour it
describes, whichever endpoint shows it (Birmingham at 244 g/kWh was `very high` on the zone list and
map but `high` on both intensity endpoints, which reused a provider's 2023-calibrated band)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from tests.zones.factories import GridZoneFactory, ZoneIntensityReadingFactory
from workloads.selectors import carbon_level
from zones.providers.bands import index_band

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 15, 12, 10, tzinfo=UTC)
SLOT = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def test_every_endpoint_gives_birmingham_at_244_the_same_band(make_client, user):
    birmingham = GridZoneFactory(
        zone_name="Birmingham", neso_region_id=8, carbon_intensity=Decimal("244.00"), figures_updated_at=NOW
    )
    # Stored as a provider calibrated on 2023's boundaries would have banded it.
    ZoneIntensityReadingFactory(zone=birmingham, period_start=SLOT, forecast=244.0, index="high")
    client = make_client(user)

    listed = client.get(f"/api/v1/zones/{birmingham.pk}/").json()["carbon_index"]
    [feature] = [f for f in client.get("/api/v1/zones/map/").json()["features"] if f["id"] == str(birmingham.pk)]
    [snapshot] = [
        r for r in client.get("/api/v1/zones/intensity/").json()["results"] if r["zone"]["id"] == str(birmingham.pk)
    ]
    [point] = client.get(
        f"/api/v1/zones/{birmingham.pk}/intensity/?from=2026-03-15T12:00Z&to=2026-03-15T12:30Z"
    ).json()["results"]

    bands = {listed, feature["properties"]["carbon_index"], snapshot["index"], point["index"]}
    assert bands == {"very high"}  # 2026 boundaries: very high from 231


def test_a_half_hour_is_banded_by_its_own_year_not_by_today(make_client, user):
    zone = GridZoneFactory(neso_region_id=8, figures_updated_at=NOW)
    last_year = datetime(2023, 3, 15, 12, 0, tzinfo=UTC)
    ZoneIntensityReadingFactory(zone=zone, period_start=last_year, forecast=244.0, index="")
    [point] = (
        make_client(user)
        .get(f"/api/v1/zones/{zone.pk}/intensity/?from=2023-03-15T12:00Z&to=2023-03-15T12:30Z")
        .json()["results"]
    )
    assert point["index"] == "high" == index_band(244.0, last_year)  # 2023: high is 200–289


def test_the_dashboards_carbon_level_follows_the_same_rule(user):
    from tests.workloads.factories import WorkloadFactory

    zone = GridZoneFactory(neso_region_id=8)
    run = WorkloadFactory(
        user=user,
        status="COMPLETED",
        chosen_grid_zone=zone,
        actual_end=NOW - timedelta(hours=1),
        carbon_emitted_kg=Decimal("2.44"),
        actual_energy_kwh=Decimal("10"),
    )
    assert carbon_level(run) == "very high"
    abroad = WorkloadFactory(
        user=user,
        status="COMPLETED",
        chosen_grid_zone=GridZoneFactory(neso_region_id=None),
        carbon_emitted_kg=Decimal("2.44"),
        actual_energy_kwh=Decimal("10"),
    )
    assert carbon_level(abroad) is None  # the bands are a GB calibration
