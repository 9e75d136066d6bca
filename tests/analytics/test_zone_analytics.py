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
    shape = {
        "planned_start": START,
        "required_gpu_mins": Decimal("120"),
        "required_cpu_cores": 8,
        "required_memory_gb": Decimal("64"),
        "estimated_duration_mins": 90,
    }
    return WorkloadFactory(user=user, status=status, chosen_grid_zone=zone, **{**shape, **extra})


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
    assert len(body["results"]) == zones * 2  # each 90-minute window from 08:00 spans two hours


def one_gpu(user, zone, start, minutes, status=S.SCHEDULED):
    """A run planned from ``start`` for ``minutes`` holding one GPU throughout."""
    return reserve(
        user, zone, status, planned_start=start, estimated_duration_mins=minutes, required_gpu_mins=Decimal(minutes)
    )


def hours(body, resource="gpu"):
    """{bucket_start: (hours reserved, utilisation %)} of a one-zone answer."""
    return {
        row["bucket_start"]: (
            Decimal(str(row[f"{resource}_hours_reserved"])),
            Decimal(str(row[f"{resource}_utilisation_pct"])),
        )
        for row in body["results"]
    }


def test_a_run_is_apportioned_to_every_bucket_it_overlaps(operator):
    zone = GridZoneFactory(gpu_capacity=2, cpu_core_capacity=16, memory_gb_capacity=100)
    member = UserFactory(organization=operator.organization)
    reserve(
        member,
        zone,
        planned_start=datetime(2026, 6, 1, 10, 30, tzinfo=UTC),
        estimated_duration_mins=150,
        required_gpu_mins=Decimal("150"),  # one GPU throughout
        required_cpu_cores=4,
    )
    query = {"from": "2026-06-01T09:00Z", "to": "2026-06-01T15:00Z", "bucket": "hour", "tz": "UTC"}
    body = client_for(operator).get(UTILISATION, query).json()
    assert hours(body) == {
        "2026-06-01T10:00:00+00:00": (Decimal("0.5"), Decimal("25")),
        "2026-06-01T11:00:00+00:00": (Decimal("1"), Decimal("50")),
        "2026-06-01T12:00:00+00:00": (Decimal("1"), Decimal("50")),
    }
    assert {start: reserved for start, (reserved, _) in hours(body, "core").items()} == {
        "2026-06-01T10:00:00+00:00": Decimal("2"),
        "2026-06-01T11:00:00+00:00": Decimal("4"),
        "2026-06-01T12:00:00+00:00": Decimal("4"),
    }
    assert [row["workloads"] for row in body["results"]] == [1, 1, 1]


def test_only_the_part_inside_the_buckets_counts(operator):
    zone = GridZoneFactory(gpu_capacity=1)
    member = UserFactory(organization=operator.organization)
    for start in (datetime(2026, 6, 1, 8, 0, tzinfo=UTC), datetime(2026, 6, 1, 10, 30, tzinfo=UTC)):
        one_gpu(member, zone, start, 120)
    query = {"from": "2026-06-01T09:00Z", "to": "2026-06-01T11:00Z", "bucket": "hour", "tz": "UTC"}
    body = client_for(operator).get(UTILISATION, query).json()
    assert hours(body) == {
        "2026-06-01T09:00:00+00:00": (Decimal("1"), Decimal("100")),  # the second hour of the 08:00 run
        "2026-06-01T10:00:00+00:00": (Decimal("0.5"), Decimal("50")),  # the first half hour of the 10:30 one
    }


def test_hours_across_the_october_change_in_london(operator):
    zone = GridZoneFactory(gpu_capacity=1)
    member = UserFactory(organization=operator.organization)
    # 00:30 UTC (01:30 BST) for 2.5 hours, across 01:00 UTC when the clocks go back to 01:00 GMT.
    one_gpu(member, zone, datetime(2026, 10, 25, 0, 30, tzinfo=UTC), 150)
    query = {"from": "2026-10-24T23:00Z", "to": "2026-10-25T04:00Z", "bucket": "hour", "tz": "Europe/London"}
    body = client_for(operator).get(UTILISATION, query).json()
    assert hours(body) == {
        "2026-10-25T01:00:00+01:00": (Decimal("0.5"), Decimal("50")),
        "2026-10-25T01:00:00+00:00": (Decimal("1"), Decimal("100")),  # the repeated hour, a bucket of its own
        "2026-10-25T02:00:00+00:00": (Decimal("1"), Decimal("100")),
    }


def test_days_across_the_march_change_in_london(operator):
    zone = GridZoneFactory(gpu_capacity=1)
    member = UserFactory(organization=operator.organization)
    # Saturday 22:00 GMT to Monday 01:00 BST: 2 h on Saturday, all 23 h of Sunday, 1 h on Monday.
    one_gpu(member, zone, datetime(2026, 3, 28, 22, 0, tzinfo=UTC), 26 * 60)
    query = {"from": "2026-03-28T00:00Z", "to": "2026-03-30T23:00Z", "bucket": "day", "tz": "Europe/London"}
    body = client_for(operator).get(UTILISATION, query).json()
    assert hours(body) == {
        "2026-03-28T00:00:00+00:00": (Decimal("2"), Decimal("8.33")),
        "2026-03-29T00:00:00+00:00": (Decimal("23"), Decimal("100")),
        "2026-03-30T00:00:00+01:00": (Decimal("1"), Decimal("4.17")),
    }
    assert [Decimal(str(row["gpu_hours_capacity"])) for row in body["results"]] == [24, 23, 24]


def test_a_zone_held_within_its_capacity_is_never_over_100_percent(operator):
    zone = GridZoneFactory(gpu_capacity=2, cpu_core_capacity=8, memory_gb_capacity=64)
    member = UserFactory(organization=operator.organization)
    # Two lanes of back-to-back runs of uneven lengths, starting off the hour: at any instant the zone
    # holds at most 2 GPUs, 8 cores and 64 GB (a run's GPU-minutes spread evenly over its window).
    minutes = 0
    for lane, lengths in enumerate(((37, 95, 130, 61, 17, 200), (13, 250, 44, 44, 180, 9))):
        at = datetime(2026, 6, 1, 6, 17 + lane, tzinfo=UTC)
        for length in lengths:
            reserve(
                member,
                zone,
                planned_start=at,
                estimated_duration_mins=length,
                required_gpu_mins=Decimal(length),
                required_cpu_cores=4,
                required_memory_gb=Decimal(32),
                status=(S.SCHEDULED, S.COMPLETED)[lane],
            )
            at += timedelta(minutes=length)
            minutes += length
    body = client_for(operator).get(UTILISATION, {**RANGE, "bucket": "hour"}).json()
    for resource in ("gpu", "core", "memory_gb"):
        percentages = [pct for _, pct in hours(body, resource).values()]
        assert max(percentages) == Decimal("100")  # the hours both lanes run all through
        assert min(percentages) > 0
    assert sum(reserved for reserved, _ in hours(body).values()) == Decimal(minutes) / 60  # nothing lost


def test_which_workloads_reserve_and_from_when(operator):
    zone = GridZoneFactory(gpu_capacity=10)
    member = UserFactory(organization=operator.organization)
    ten = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    shape = {"estimated_duration_mins": 60, "required_gpu_mins": Decimal("60")}
    reserve(member, zone, planned_start=ten, **shape)  # SCHEDULED: its planned hour
    reserve(member, zone, S.RUNNING, planned_start=ten, actual_start=ten + timedelta(hours=2), **shape)
    # COMPLETED: from its real start for its estimate, whenever it really ended.
    reserve(
        member,
        zone,
        S.COMPLETED,
        planned_start=ten,
        actual_start=ten + timedelta(hours=1),
        actual_end=ten + timedelta(hours=4),
        **shape,
    )
    for status in (S.PENDING, S.FAILED, S.CANCELLED):
        reserve(member, zone, status, planned_start=ten, **shape)
    query = {"from": "2026-06-01T09:00Z", "to": "2026-06-01T15:00Z", "bucket": "hour", "tz": "UTC"}
    body = client_for(operator).get(UTILISATION, query).json()
    assert {start: reserved for start, (reserved, _) in hours(body).items()} == {
        "2026-06-01T10:00:00+00:00": Decimal("1"),
        "2026-06-01T11:00:00+00:00": Decimal("1"),
        "2026-06-01T12:00:00+00:00": Decimal("1"),
    }


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
