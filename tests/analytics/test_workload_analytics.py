"""Workload analytics: formulas on hand-computed fixtures, scoping, DST, bad ranges, query counts, CSV."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from conftest import REQUEST_OVERHEAD_QUERIES, client_for
from tests.accounts.factories import UserFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads.models import WorkloadStatus as S

pytestmark = pytest.mark.django_db

ANALYTICS = "/api/v1/analytics/workloads/"
EXPORT = "/api/v1/analytics/workloads/export/"
STATS = "/api/v1/workloads/stats/"
DAY1 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # 10:00 in London (BST)
DAY2 = DAY1 + timedelta(days=1)


def done(user, zone, submitted, *, energy, emitted, baseline, cost, baseline_cost, wait_mins, deadline=None, **extra):
    start = submitted + timedelta(minutes=wait_mins)
    return WorkloadFactory(
        user=user,
        status=S.COMPLETED,
        chosen_grid_zone=zone,
        submitted_at=submitted,
        actual_start=start,
        actual_end=start + timedelta(hours=1),
        deadline=deadline,
        estimated_energy_kwh=Decimal(energy),
        carbon_emitted_kg=Decimal(emitted),
        baseline_carbon_kg=Decimal(baseline),
        cost_gbp=Decimal(cost),
        baseline_cost_gbp=Decimal(baseline_cost),
        **extra,
    )


@pytest.fixture
def history(user):
    """Day 1: two completed (one late), one failed after starting, one cancelled. Day 2: one pending."""
    zone = GridZoneFactory(zone_name="Glasgow")
    done(
        user, zone, DAY1, energy="10", emitted="1", baseline="4", cost="2", baseline_cost="3", wait_mins=30,
        deadline=DAY1 + timedelta(hours=5),
    )  # fmt: skip
    done(
        user, zone, DAY1 + timedelta(hours=1), energy="20", emitted="3", baseline="2", cost="4", baseline_cost="5",
        wait_mins=90, deadline=DAY1 + timedelta(hours=2), actual_energy_kwh=Decimal("25"),
    )  # fmt: skip
    WorkloadFactory(
        user=user, status=S.FAILED, chosen_grid_zone=zone, submitted_at=DAY1 + timedelta(hours=2),
        actual_start=DAY1 + timedelta(hours=3), urgency="HIGH",
    )  # fmt: skip
    WorkloadFactory(user=user, status=S.CANCELLED, submitted_at=DAY1 + timedelta(hours=3))
    WorkloadFactory(user=user, submitted_at=DAY2)
    return zone


def get(client, **params):
    response = client.get(ANALYTICS, params)
    assert response.status_code == 200, response.json()
    return response.json()


def as_decimal(value):
    return None if value is None else Decimal(str(value))


def test_figures_match_hand_computed_values(user, history):
    body = get(client_for(user), **{"from": "2026-06-01T00:00Z", "to": "2026-06-03T00:00Z", "bucket": "day"})
    assert [row["bucket_start"] for row in body["rows"]] == [
        "2026-06-01T00:00:00+01:00",
        "2026-06-02T00:00:00+01:00",
        "2026-06-03T00:00:00+01:00",  # `to` is 01:00 BST on the 3rd: that day's first hour is in the period
    ]
    day1, day2, empty = body["rows"]
    assert empty["submitted"] == 0 and empty["mean_wait_minutes"] is None
    assert (day1["submitted"], day1["completed"], day1["failed"], day1["cancelled"]) == (4, 2, 1, 1)
    assert as_decimal(day1["energy_kwh"]) == Decimal("35")  # 10 estimated + 25 measured (not its 20 estimate)
    assert as_decimal(day1["carbon_emitted_kg"]) == Decimal("4")
    assert as_decimal(day1["baseline_carbon_kg"]) == Decimal("6")
    assert as_decimal(day1["carbon_saved_kg"]) == Decimal("2")
    assert as_decimal(day1["carbon_saved_pct"]) == Decimal("33.33")  # 2 / 6
    assert as_decimal(day1["cost_saved_gbp"]) == Decimal("2")  # (3 + 5) − (2 + 4)
    assert as_decimal(day1["mean_wait_minutes"]) == Decimal("60")  # (30 + 90 + 60) / 3 started
    assert as_decimal(day1["on_time_share"]) == Decimal("0.5")  # one of two with a deadline
    assert day2["submitted"] == 1 and day2["carbon_saved_pct"] is None
    totals = body["totals"]
    assert totals["submitted"] == 5 and as_decimal(totals["carbon_saved_kg"]) == Decimal("2")
    assert as_decimal(totals["mean_wait_minutes"]) == Decimal("60")


def test_totals_agree_with_the_dashboard_stats(operator, history):
    colleague = UserFactory(organization=operator.organization)
    figures = dict(energy="7", emitted="0.1234", baseline="0.9876", cost="1.1111", baseline_cost="2.2222")
    done(colleague, history, DAY2, wait_mins=5, **figures)
    client = client_for(operator)
    stats = client.get(STATS).json()
    for bucket in ("hour", "day", "week", "month"):
        totals = get(client, **{"from": "2026-05-01T00:00Z", "to": "2026-07-01T00:00Z", "bucket": bucket})["totals"]
        assert totals["submitted"] == stats["total"]
        assert totals["completed"] == stats["completed"]
        for name in ("carbon_emitted_kg", "carbon_saved_kg", "cost_gbp", "cost_saved_gbp"):
            assert as_decimal(totals[name]) == as_decimal(stats[name]), (bucket, name)


def test_a_user_sees_only_their_own_and_an_operator_only_their_organisation(user, operator, history):
    stranger = UserFactory()  # another organisation
    WorkloadFactory(user=stranger, submitted_at=DAY1)
    colleague = UserFactory(organization=user.organization)
    WorkloadFactory(user=colleague, submitted_at=DAY1)
    params = {"from": "2026-06-01T00:00Z", "to": "2026-06-03T00:00Z"}
    assert get(client_for(user), **params)["totals"]["submitted"] == 5
    assert get(client_for(operator), **params)["totals"]["submitted"] == 6
    by_user = get(client_for(operator), **params, group_by="user")
    assert {row["group_key"] for row in by_user["rows"]} == {str(user.id), str(colleague.id)}
    assert get(client_for(stranger), **params)["totals"]["submitted"] == 1


def test_only_operators_group_by_user(user):
    response = client_for(user).get(ANALYTICS, {"group_by": "user"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "group_by,expected",
    [
        ("zone", {"Glasgow": 3, "Not assigned yet": 2}),
        ("workload_type", {"Training run": 5}),
        ("urgency", {"Medium": 4, "High": 1}),
    ],
)
def test_group_by(user, history, group_by, expected):
    body = get(client_for(user), **{"from": "2026-06-01T00:00Z", "to": "2026-06-03T00:00Z", "group_by": group_by})
    found: dict[str, int] = {}
    for row in body["rows"]:
        found[row["group_label"]] = found.get(row["group_label"], 0) + row["submitted"]
    assert found == expected


class TestDaylightSaving:
    """London days are 25 hours long on the last Sunday of October and 23 on the last of March."""

    def test_october_day_has_25_hours(self, user):
        WorkloadFactory(user=user, submitted_at=datetime(2026, 10, 24, 23, 30, tzinfo=UTC))  # 00:30 BST, the 25th
        WorkloadFactory(user=user, submitted_at=datetime(2026, 10, 25, 23, 30, tzinfo=UTC))  # 23:30 GMT, the 25th
        WorkloadFactory(user=user, submitted_at=datetime(2026, 10, 26, 0, 30, tzinfo=UTC))  # 00:30 GMT, the 26th
        body = get(client_for(user), **{"from": "2026-10-24T23:00Z", "to": "2026-10-27T00:00Z", "bucket": "day"})
        rows = {row["bucket_start"]: row for row in body["rows"]}
        assert list(rows) == ["2026-10-25T00:00:00+01:00", "2026-10-26T00:00:00+00:00"]
        assert rows["2026-10-25T00:00:00+01:00"]["bucket_end"] == "2026-10-26T00:00:00+00:00"
        assert rows["2026-10-25T00:00:00+01:00"]["submitted"] == 2
        assert rows["2026-10-26T00:00:00+00:00"]["submitted"] == 1

    def test_march_day_has_23_hours(self, user):
        WorkloadFactory(user=user, submitted_at=datetime(2026, 3, 28, 23, 30, tzinfo=UTC))  # 23:30 GMT, the 28th
        WorkloadFactory(user=user, submitted_at=datetime(2026, 3, 29, 22, 30, tzinfo=UTC))  # 23:30 BST, the 29th
        WorkloadFactory(user=user, submitted_at=datetime(2026, 3, 29, 23, 30, tzinfo=UTC))  # 00:30 BST, the 30th
        body = get(client_for(user), **{"from": "2026-03-28T00:00Z", "to": "2026-03-30T23:00Z", "bucket": "day"})
        counts = {row["bucket_start"]: row["submitted"] for row in body["rows"]}
        assert counts == {
            "2026-03-28T00:00:00+00:00": 1,
            "2026-03-29T00:00:00+00:00": 1,
            "2026-03-30T00:00:00+01:00": 1,
        }

    def test_the_repeated_hour_is_two_buckets(self, user):
        WorkloadFactory(user=user, submitted_at=datetime(2026, 10, 25, 0, 10, tzinfo=UTC))  # 01:10 BST
        WorkloadFactory(user=user, submitted_at=datetime(2026, 10, 25, 1, 10, tzinfo=UTC))  # 01:10 GMT
        body = get(client_for(user), **{"from": "2026-10-25T00:00Z", "to": "2026-10-25T02:00Z", "bucket": "hour"})
        assert [(row["bucket_start"], row["submitted"]) for row in body["rows"]] == [
            ("2026-10-25T01:00:00+01:00", 1),
            ("2026-10-25T01:00:00+00:00", 1),
        ]


@pytest.mark.parametrize(
    "params,field",
    [
        ({"from": "2026-06-02T00:00Z", "to": "2026-06-01T00:00Z"}, "to"),
        ({"from": "2025-01-01T00:00Z", "to": "2026-01-03T00:00Z", "bucket": "hour"}, "to"),
        ({"from": "2000-01-01T00:00Z", "to": "2026-01-01T00:00Z", "bucket": "month"}, "to"),
        ({"group_by": "colour"}, "group_by"),
        ({"bucket": "fortnight"}, "bucket"),
        ({"tz": "Mars/Olympus_Mons"}, "tz"),
        ({"tz": "../../etc/passwd"}, "tz"),
        ({"from": "yesterday"}, "from"),
    ],
)
def test_bad_parameters_are_400s_naming_them(user, params, field):
    for path in (ANALYTICS, EXPORT):
        response = client_for(user).get(path, params)
        assert response.status_code == 400, response.content
        assert list(response.json()["fields"]) == [field]


def test_366_days_of_hours_is_allowed(user):
    body = get(client_for(user), **{"from": "2025-01-01T00:00Z", "to": "2026-01-02T00:00Z", "bucket": "hour"})
    assert len(body["rows"]) == 366 * 24


@pytest.mark.parametrize("rows,days", [(5, 3), (40, 30)])
@pytest.mark.parametrize("group_by", [None, "zone", "user"])
def test_query_count_is_fixed(operator, django_assert_num_queries, rows, days, group_by):
    zones = GridZoneFactory.create_batch(3)
    for n in range(rows):
        owner = UserFactory(organization=operator.organization)
        WorkloadFactory(
            user=owner, status=S.COMPLETED, chosen_grid_zone=zones[n % 3], submitted_at=DAY1 + timedelta(hours=n)
        )
    client = client_for(operator)
    params = {"from": DAY1.isoformat(), "to": (DAY1 + timedelta(days=days)).isoformat(), "bucket": "hour"}
    if group_by:
        params["group_by"] = group_by
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 1):
        body = get(client, **params)
    assert body["totals"]["submitted"] == rows


def test_csv_export(operator, history):
    history.zone_name = '=HYPERLINK("http://evil")'
    history.save()
    WorkloadFactory(user=UserFactory(organization=operator.organization), submitted_at=DAY1)
    WorkloadFactory(user=UserFactory(), submitted_at=DAY1)  # another organisation's: never exported
    response = client_for(operator).get(
        EXPORT, {"from": "2026-06-01T00:00Z", "to": "2026-06-02T00:00Z", "group_by": "zone", "format": "csv"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert lines[0][:5] == ["bucket_start", "bucket_end", "group_key", "group_label", "submitted"]
    labels = {line[3] for line in lines[1:-1]}
    assert labels == {'\'=HYPERLINK("http://evil")', "Not assigned yet"}
    assert lines[-1][0] == "TOTAL" and lines[-1][4] == "5"


def test_csv_export_refuses_other_formats(user):
    response = client_for(user).get(EXPORT, {"format": "xlsx"})
    assert response.status_code == 400 and list(response.json()["fields"]) == ["format"]
