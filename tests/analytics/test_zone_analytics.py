"""Zone utilisation (operators) and a zone's weekly profile."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from conftest import REQUEST_OVERHEAD_QUERIES, client_for
from tests.accounts.factories import UserFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory, ZoneIntensityReadingFactory
from workloads.models import WorkloadStatus as S
from zones.models import CarbonSource

pytestmark = pytest.mark.django_db

UTILISATION = "/api/v1/analytics/zones/utilisation/"
START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
RANGE = {"from": "2026-05-31T23:00Z", "to": "2026-06-01T23:00Z", "bucket": "day"}  # one London day


def reserve(user, zone, status=S.SCHEDULED, **extra):
    return WorkloadFactory(
        user=user,
        status=status,
        chosen_grid_zone=zone,
        planned_start=START,
        required_gpu_mins=Decimal("120"),
        required_cpu_cores=8,
        required_memory_gb=Decimal("64"),
        estimated_duration_mins=90,
        **extra,
    )


def test_utilisation_against_capacity(operator):
    zone = GridZoneFactory(gpu_capacity=4, cpu_core_capacity=100, memory_gb_capacity=1000)
    member = UserFactory(organization=operator.organization)
    reserve(member, zone)
    reserve(member, zone, status=S.RUNNING, actual_start=START + timedelta(hours=2))
    reserve(member, zone, status=S.PENDING)  # holds nothing yet
    reserve(member, zone, status=S.CANCELLED)
    reserve(UserFactory(), zone)  # another organisation's
    body = client_for(operator).get(UTILISATION, RANGE).json()
    [row] = body["results"]
    assert row["zone"]["id"] == str(zone.id) and row["workloads"] == 2
    assert row["bucket_start"] == "2026-06-01T00:00:00+01:00"
    assert Decimal(str(row["gpu_hours_reserved"])) == Decimal("4")  # 2 × 120 GPU-minutes
    assert Decimal(str(row["gpu_hours_capacity"])) == Decimal("96")  # 4 GPUs × 24 h
    assert Decimal(str(row["gpu_utilisation_pct"])) == Decimal("4.17")
    assert Decimal(str(row["core_hours_reserved"])) == Decimal("24")  # 2 × 8 cores × 1.5 h
    assert Decimal(str(row["core_utilisation_pct"])) == Decimal("1")  # 24 / 2400
    assert Decimal(str(row["memory_gb_hours_reserved"])) == Decimal("192")  # 2 × 64 GB × 1.5 h


def test_utilisation_is_for_operators(user):
    assert client_for(user).get(UTILISATION).status_code == 403


@pytest.mark.parametrize("zones", [1, 6])
def test_utilisation_query_count_is_fixed(operator, django_assert_num_queries, zones):
    member = UserFactory(organization=operator.organization)
    for zone in GridZoneFactory.create_batch(zones):
        reserve(member, zone)
    client = client_for(operator)
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 2):
        body = client.get(UTILISATION, {**RANGE, "bucket": "hour"}).json()
    assert len(body["results"]) == zones


def test_profile_means_by_weekday_and_local_hour(user):
    zone = GridZoneFactory()
    now = datetime(2026, 6, 14, 12, 0, tzinfo=UTC)  # a Sunday: the last two weeks hold two Mondays
    monday_9_utc = datetime(2026, 6, 8, 9, 0, tzinfo=UTC)  # 10:00 in London
    for week, value in enumerate((100.0, 200.0)):
        for half in (0, 30):
            ZoneIntensityReadingFactory(
                zone=zone, period_start=monday_9_utc - timedelta(weeks=week, minutes=-half), forecast=value
            )
    # A second source for one half hour: the measured reading is the one that counts.
    ZoneIntensityReadingFactory(
        zone=zone, period_start=monday_9_utc, forecast=None, actual=40.0, source=CarbonSource.FILE
    )
    ZoneIntensityReadingFactory(zone=zone, period_start=monday_9_utc + timedelta(hours=5), forecast=10.0)
    with time_machine.travel(now, tick=False):
        body = client_for(user).get(f"/api/v1/analytics/zones/{zone.id}/profile/", {"weeks": 2}).json()
    cells = {(cell["weekday"], cell["hour"]): cell for cell in body["cells"]}
    assert len(cells) == 7 * 24
    assert cells[(1, 10)] == {"weekday": 1, "hour": 10, "mean_intensity": 135.0, "samples": 4}  # (40+100+200+200)/4
    assert cells[(1, 9)]["mean_intensity"] is None and cells[(1, 9)]["samples"] == 0
    assert body["cleanest_hours"] == [{"hour": 15, "mean_intensity": 10.0}, {"hour": 10, "mean_intensity": 135.0}]


def test_profile_of_an_unknown_zone_is_404_and_weeks_are_bounded(user):
    client = client_for(user)
    assert client.get("/api/v1/analytics/zones/00000000-0000-0000-0000-000000000000/profile/").status_code == 404
    zone = GridZoneFactory()
    response = client.get(f"/api/v1/analytics/zones/{zone.id}/profile/", {"weeks": 53})
    assert response.status_code == 400 and list(response.json()["fields"]) == ["weeks"]
