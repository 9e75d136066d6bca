"""The admin index as the operators' dashboard: its figures are the stats API's, for the signed-in
operator's organisation only; its charts are inline SVG readable without colour."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from pylon.console import charts, formatting
from pylon.console.dashboard import zone_outlook
from tests.accounts.factories import UserFactory
from tests.scheduling.factories import set_forecast
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads import selectors
from workloads.models import WorkloadStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    moment = datetime.fromisoformat("2026-12-03T12:10:00+00:00")
    with time_machine.travel(moment, tick=False):
        yield moment


def completed(owner, zone, *, ended, emitted, baseline, cost="1.00", baseline_cost="1.50"):
    return WorkloadFactory(
        user=owner,
        status=WorkloadStatus.COMPLETED,
        chosen_grid_zone=zone,
        submitted_at=ended - timedelta(hours=3),
        actual_start=ended - timedelta(hours=2),
        actual_end=ended,
        carbon_emitted_kg=Decimal(emitted),
        baseline_carbon_kg=Decimal(baseline),
        cost_gbp=Decimal(cost),
        baseline_cost_gbp=Decimal(baseline_cost),
    )


@pytest.fixture
def history(now, organization, other_organization):
    owner = UserFactory(organization=organization)
    zone = GridZoneFactory(zone_name="Glasgow Grid Cluster")
    this_week = [
        completed(owner, zone, ended=now - timedelta(days=1), emitted="1.2000", baseline="4.0000"),
        completed(owner, zone, ended=now - timedelta(hours=1), emitted="0.5000", baseline="0.2000"),  # worse
    ]
    last_week = completed(owner, zone, ended=now - timedelta(days=5), emitted="2.0000", baseline="5.0000")
    long_ago = completed(owner, zone, ended=now - timedelta(weeks=20), emitted="1.0000", baseline="9.0000")
    WorkloadFactory(user=owner, submitted_at=now - timedelta(hours=5))  # pending, the oldest
    WorkloadFactory(user=owner, submitted_at=now - timedelta(hours=1))
    WorkloadFactory(user=owner, status=WorkloadStatus.RUNNING, chosen_grid_zone=zone, actual_start=now)
    # Another organisation's runs count nowhere here.
    stranger = UserFactory(organization=other_organization)
    completed(stranger, zone, ended=now - timedelta(hours=2), emitted="0.0000", baseline="100.0000")
    WorkloadFactory(user=stranger, submitted_at=now - timedelta(days=3))
    return {"this_week": this_week, "last_week": last_week, "long_ago": long_ago, "zone": zone}


def test_the_weeks_use_the_stats_rule_and_add_up_to_it(now, history, staff_operator):
    weeks = selectors.workload_savings_by_week(fetched_by=staff_operator, weeks=30, now=now)
    stats = selectors.workload_stats(fetched_by=staff_operator)
    # Over weeks that cover every run, the weekly figures add up to the stats API's totals.
    assert sum(w.completed for w in weeks) == stats["completed"] == 4
    assert sum(w.carbon_saved_kg for w in weeks) == stats["carbon_saved_kg"] == Decimal("13.5")
    assert sum(w.cost_saved_gbp for w in weeks) == stats["cost_saved_gbp"] == Decimal("2.0")
    eight = selectors.workload_savings_by_week(fetched_by=staff_operator, weeks=8, now=now)
    assert [w.start.date().isoformat() for w in eight[-2:]] == ["2026-11-23", "2026-11-30"]
    assert eight[-1].start.weekday() == 0
    assert (eight[-1].completed, eight[-1].carbon_saved_kg) == (2, Decimal("2.5"))  # 2.8 saved, 0.3 lost
    assert (eight[-2].completed, eight[-2].carbon_saved_kg) == (1, Decimal("3.0"))


def test_the_dashboard_shows_the_stats_figures_for_the_organisation(
    now, history, operator_console, staff_operator, make_client
):
    response = operator_console.get("/admin/")
    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    stats = selectors.workload_stats(fetched_by=staff_operator)
    assert dashboard["queue_length"] == stats["counts_by_status"]["PENDING"] == 2
    assert dashboard["running"] == stats["active"] == 1
    assert dashboard["scheduled"] == stats["counts_by_status"]["SCHEDULED"]
    assert dashboard["oldest_wait"] == "5 h"
    assert dashboard["week"].completed == 2
    assert dashboard["week_carbon_saved"] == "2.50 kg" and dashboard["week_cost_saved"] == "£1.00"
    assert dashboard["total_carbon_saved"] == formatting.saving_kg(stats["carbon_saved_kg"]) == "13.50 kg"
    html = response.content.decode()
    assert "2.50 kg CO₂" in html and "oldest waiting 5 h" in html
    # The same organisation's figures as its stats API shows the operator.
    api = make_client(staff_operator).get("/api/v1/workloads/stats/").json()
    assert Decimal(str(api["carbon_saved_kg"])) == stats["carbon_saved_kg"]
    assert api["active"] == dashboard["running"]


def test_the_dashboard_charts_are_inline_and_readable_without_colour(now, history, operator_console):
    set_forecast(history["zone"], [200.0] * 10 + [35.0] + [150.0] * 86, start=now, slots=97)
    html = operator_console.get("/admin/").content.decode()
    assert html.count('<svg class="pylon-chart') >= 2
    assert "Carbon saved per week, oldest first:" in html  # the chart's figures as its accessible name
    assert "week of 30 Nov: 2.50 kg" in html
    assert "Glasgow Grid Cluster" in html and "200 g/kWh · high" in html
    assert "lowest 35 g/kWh at 3 Dec 17:00" in html
    assert '<script src="http' not in html and "cdn" not in html.lower()


def test_a_negative_week_is_hatched_and_labelled_with_a_minus():
    svg = charts.bar_chart(
        [charts.Bar("23 Nov", -0.3, formatting.saving_kg(-0.3)), charts.Bar("30 Nov", 2.0, "2.00 kg")],
        summary="Carbon saved",
    )
    assert 'fill="url(#pylon-hatch)"' in svg and "−300 g" in svg and 'class="pos"' in svg
    assert "<title>Carbon saved</title>" in svg


def test_chart_text_is_escaped():
    svg = charts.line_chart([1.0, 2.0], summary='<script>alert("x")</script>', marks=[charts.Mark(0, "<b>")])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;" in svg


def test_figures_are_rounded_with_units():
    assert formatting.kg(0.03599999999999999) == "36 g"
    assert formatting.kg(Decimal("3.7302767917699997")) == "3.73 kg"
    assert formatting.gbp(Decimal("-1.5")) == "−£1.50" and formatting.gbp(0.004) == "£0.0040"
    assert formatting.g_per_kwh(123.456) == "123 g/kWh" and formatting.kwh(12.5) == "12.50 kWh"
    assert formatting.duration(timedelta(hours=26, minutes=5)) == "1 d 2 h"
    assert formatting.duration(timedelta(minutes=-90)) == "−1 h 30 min"
    assert formatting.kg(None) == "—"


def test_no_dead_links_and_a_favicon(operator_console, staff_operator, organization):
    html = operator_console.get("/admin/").content.decode()
    assert "View site" not in html
    assert 'rel="icon"' in html and "console/favicon.svg" in html
    favicon = Client().get("/favicon.ico")
    assert favicon.status_code == 302 and favicon.url.endswith("console/favicon.svg")
    # A member page the operator may only view: no "Reset password" (it would answer 403).
    member = UserFactory(organization=organization)
    page = operator_console.get(f"/admin/accounts/user/{member.pk}/change/").content.decode()
    assert "Reset password" not in page and "../password/" not in page
    assert 'name="_save"' not in page
    assert "column-organization" not in operator_console.get("/admin/accounts/user/").content.decode()


def test_the_queue_is_in_the_app_list(operator_console):
    html = operator_console.get("/admin/").content.decode()
    assert 'href="/admin/workloads/computeworkload/queue/"' in html


def test_the_zone_outlook_bands_with_the_apis_rule(now):
    """NESO's bands are a calibration of the GB grid: a non-GB zone gets none, as on `/zones/`."""
    gb = GridZoneFactory(zone_name="Birmingham", neso_region_id=9)
    abroad = GridZoneFactory(zone_name="Dublin", neso_region_id=None)
    silent = GridZoneFactory(zone_name="Silent", neso_region_id=5)
    set_forecast(gb, 244)
    set_forecast(abroad, 244)
    bands = {outlook.zone.zone_name: outlook.band for outlook in zone_outlook(zones=[gb, abroad, silent], now=now)}
    assert bands == {"Birmingham": "very high", "Dublin": "no band", "Silent": "unknown"}
