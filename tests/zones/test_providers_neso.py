"""NESO Carbon Intensity API: payload parsing on recorded responses, and the client against a fake server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.zones.carbon_fixtures import load_json
from tests.zones.fake_server import FakeHttpServer, Scripted
from zones.providers.base import CarbonIntensityProvider, PermanentProviderError, TransientProviderError
from zones.providers.neso import (
    NATIONAL_ZONE_KEY,
    NesoProvider,
    parse_national,
    parse_regional_by_region,
    parse_regional_by_time,
)

REGIONAL_START = datetime(2023, 3, 14, 3, 0, tzinfo=UTC)
REGION_13_START = datetime(2023, 3, 15, 3, 0, tzinfo=UTC)
NATIONAL_START = datetime(2023, 1, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FakeHttpServer]:
    with FakeHttpServer() as fake:
        yield fake


@pytest.fixture
def neso(server: FakeHttpServer) -> NesoProvider:
    return NesoProvider(server.base_url, timeout=(1.0, 0.5))


# -- parsing recorded responses -----------------------------------------------


def test_national_has_actuals_until_they_stop() -> None:
    readings = parse_national(load_json("neso_national_fw48h.json"))
    assert len(readings) == 7
    first = readings[0]
    assert first.zone_key == NATIONAL_ZONE_KEY
    assert (first.period_start, first.period_end) == (NATIONAL_START, NATIONAL_START + timedelta(minutes=30))
    assert (first.forecast, first.actual, first.index) == (216.0, 225.0, "high")
    assert [r.actual is None for r in readings] == [False] * 3 + [True] * 4
    assert all(r.source == "neso" and r.generation_mix is None for r in readings)


def test_regional_by_time_keeps_requested_regions_with_zero_forecast_and_no_actual() -> None:
    readings = parse_regional_by_time(load_json("neso_regional_fw48h.json"), {"1", "13"})
    assert [(r.zone_key, r.period_start) for r in readings] == [
        (zone, REGIONAL_START + timedelta(minutes=30 * i)) for i in range(3) for zone in ("1", "13")
    ]
    north_scotland = readings[0]
    assert north_scotland.forecast == 0.0  # a windy night: valid, kept
    assert north_scotland.index == "very low"
    assert all(r.actual is None for r in readings)
    mix = north_scotland.generation_mix
    assert mix is not None and mix["wind"] > 80 and sum(mix.values()) == pytest.approx(100, abs=0.5)


def test_regional_by_time_without_filter_returns_all_18_regions() -> None:
    readings = parse_regional_by_time(load_json("neso_regional_fw48h.json"))
    assert len(readings) == 3 * 18
    assert {r.zone_key for r in readings} == {str(i) for i in range(1, 19)}


def test_regional_keys_on_regionid_not_shortname() -> None:
    payload = load_json("neso_regional_fw48h.json")
    for period in payload["data"]:
        for region in period["regions"]:
            region["shortname"] = region["shortname"].replace("&", "and")
    readings = parse_regional_by_time(payload, {"6"})
    assert [r.zone_key for r in readings] == ["6"] * 3


def test_regional_region_absent_from_response_is_permanent_and_named() -> None:
    payload = load_json("neso_regional_fw48h.json")
    for period in payload["data"]:
        period["regions"] = [r for r in period["regions"] if r["regionid"] != 5]
    with pytest.raises(PermanentProviderError, match=r"unknown region id\(s\) 5\b"):
        parse_regional_by_time(payload, {"1", "5"})


def test_missing_forecasts_during_maintenance_are_skipped_not_zeroed() -> None:
    readings = parse_regional_by_time(load_json("neso_regional_maintenance.json"), {"13"})
    assert [r.period_start.strftime("%H:%M") for r in readings] == ["02:30", "04:00"]
    assert all(r.forecast for r in readings)


def test_regional_by_region_accepts_list_and_object_data() -> None:
    payload = load_json("neso_regional_regionid_13_fw48h.json")
    as_list = parse_regional_by_region(payload, "13")
    payload["data"] = payload["data"][0]  # the live API's object form
    as_object = parse_regional_by_region(payload, "13")
    assert as_list == as_object
    assert [r.period_start for r in as_list] == [REGION_13_START + timedelta(minutes=30 * i) for i in range(4)]
    assert {r.zone_key for r in as_list} == {"13"}
    assert as_list[0].generation_mix is not None


def test_regional_by_region_for_another_region_is_permanent() -> None:
    with pytest.raises(PermanentProviderError, match="asked for region 12"):
        parse_regional_by_region(load_json("neso_regional_regionid_13_fw48h.json"), "12")


def test_index_is_computed_with_the_periods_year_when_absent() -> None:
    payload = {
        "data": [
            {"from": "2025-06-01T12:00Z", "to": "2025-06-01T12:30Z", "intensity": {"forecast": 95}},
            {"from": "2023-06-01T12:00Z", "to": "2023-06-01T12:30Z", "intensity": {"forecast": 95, "index": "bogus"}},
            {"from": "2023-06-01T12:30Z", "to": "2023-06-01T13:00Z", "intensity": {"forecast": 95, "actual": 130}},
        ]
    }
    assert [r.index for r in parse_national(payload)] == ["low", "low", "moderate"]


@pytest.mark.parametrize("payload", [{}, {"data": []}, {"other": 1}])
def test_empty_or_dataless_payloads_are_transient(payload: object) -> None:
    with pytest.raises(TransientProviderError):
        parse_national(payload)


@pytest.mark.parametrize(
    "period",
    [
        {"from": "yesterday", "to": "2023-01-01T00:30Z", "intensity": {"forecast": 1}},
        {"from": "2023-01-01T00:00Z", "to": "2023-01-01T00:30Z", "intensity": {"forecast": "high"}},
        {"from": "2023-01-01T00:00Z", "to": "2023-01-01T00:30Z", "intensity": {"forecast": -5}},
        {"from": "2023-01-01T00:00", "to": "2023-01-01T00:30", "intensity": {"forecast": 1}},
        {"to": "2023-01-01T00:30Z", "intensity": {"forecast": 1}},
    ],
)
def test_malformed_periods_are_permanent(period: dict) -> None:
    with pytest.raises(PermanentProviderError, match="malformed"):
        parse_national({"data": [period]})


# -- client against the fake server -------------------------------------------


def test_provider_satisfies_the_protocol(neso: NesoProvider) -> None:
    assert isinstance(neso, CarbonIntensityProvider)


def test_fetch_forecast_gets_all_regions_in_one_plain_get(server: FakeHttpServer, neso: NesoProvider) -> None:
    server.enqueue("/regional/intensity/", Scripted(json_body=load_json("neso_regional_fw48h.json")))
    readings = neso.fetch_forecast(["13", "1", "13"], REGIONAL_START + timedelta(minutes=10))
    assert len(readings) == 6
    (request,) = server.requests
    assert request.method == "GET"
    assert request.path == "/regional/intensity/2023-03-14T03:00Z/fw48h"
    assert "content-type" not in request.headers
    assert request.headers["accept"] == "application/json"


def test_fetch_forecast_limits_to_requested_hours(server: FakeHttpServer, neso: NesoProvider) -> None:
    server.enqueue("/regional/intensity/", Scripted(json_body=load_json("neso_regional_fw48h.json")))
    readings = neso.fetch_forecast(["1"], REGIONAL_START, hours=1)
    assert [r.period_start for r in readings] == [REGIONAL_START, REGIONAL_START + timedelta(minutes=30)]


def test_fetch_forecast_with_national_makes_a_second_call(server: FakeHttpServer, neso: NesoProvider) -> None:
    server.enqueue("/regional/intensity/", Scripted(json_body=load_json("neso_regional_fw48h.json")))
    server.enqueue("/intensity/", Scripted(json_body=load_json("neso_national_fw48h.json")))
    readings = neso.fetch_forecast([NATIONAL_ZONE_KEY, "18"], NATIONAL_START)
    assert [r.path for r in server.requests] == [
        "/regional/intensity/2023-01-26T12:00Z/fw48h",
        "/intensity/2023-01-26T12:00Z/fw48h",
    ]
    # The regional fixture is for another day, so only national readings fall in the window.
    assert {r.zone_key for r in readings} == {NATIONAL_ZONE_KEY} and len(readings) == 7


@pytest.mark.parametrize("bad", ["19", "0", "01", "London", ""])
def test_unknown_region_ids_fail_before_any_request(server: FakeHttpServer, neso: NesoProvider, bad: str) -> None:
    with pytest.raises(PermanentProviderError, match="unknown region"):
        neso.fetch_forecast(["1", bad], REGIONAL_START)
    assert server.requests == []


def test_hours_beyond_the_forecast_horizon_are_refused(neso: NesoProvider) -> None:
    with pytest.raises(ValueError, match="hours"):
        neso.fetch_forecast(["1"], REGIONAL_START, hours=49)


def test_http_500_then_success_shows_the_caller_can_retry(server: FakeHttpServer, neso: NesoProvider) -> None:
    server.enqueue(
        "/regional/intensity/",
        Scripted(status=500, json_body={"error": {"code": "500 Internal Server Error", "message": "x"}}),
        Scripted(json_body=load_json("neso_regional_fw48h.json")),
    )
    with pytest.raises(TransientProviderError) as caught:
        neso.fetch_forecast(["1"], REGIONAL_START)
    assert caught.value.status == 500
    assert len(neso.fetch_forecast(["1"], REGIONAL_START)) == 3
    assert len(server.requests) == 2


def test_empty_body_is_transient(server: FakeHttpServer, neso: NesoProvider) -> None:
    server.enqueue("/regional/intensity/", Scripted(json_body=load_json("neso_empty_body.json")))
    with pytest.raises(TransientProviderError, match="empty body"):
        neso.fetch_forecast(["1"], REGIONAL_START)


def test_error_payload_is_permanent_with_the_api_message(server: FakeHttpServer, neso: NesoProvider) -> None:
    server.enqueue("/regional/intensity/", Scripted(status=400, json_body=load_json("neso_error_400.json")))
    with pytest.raises(PermanentProviderError, match="valid ISO 8601 date"):
        neso.fetch_forecast(["1"], REGIONAL_START)


def test_slow_response_times_out_as_transient(server: FakeHttpServer, neso: NesoProvider) -> None:
    server.enqueue("/regional/intensity/", Scripted(json_body=load_json("neso_regional_fw48h.json"), delay=5))
    with pytest.raises(TransientProviderError):
        neso.fetch_forecast(["1"], REGIONAL_START)


def test_region_forecast_and_current_use_the_by_region_endpoints(server: FakeHttpServer, neso: NesoProvider) -> None:
    server.repeat("/regional/", Scripted(json_body=load_json("neso_regional_regionid_13_fw48h.json")))
    assert len(neso.fetch_region_forecast("13", REGION_13_START, hours=1)) == 2
    assert len(neso.fetch_region_current("13")) == 4
    assert [r.path for r in server.requests] == [
        "/regional/intensity/2023-03-15T03:00Z/fw48h/regionid/13",
        "/regional/regionid/13",
    ]


def test_region_forecast_with_no_periods_is_transient(server: FakeHttpServer, neso: NesoProvider) -> None:
    server.enqueue("/regional/", Scripted(json_body={"data": [{"regionid": 13, "data": []}]}))
    with pytest.raises(TransientProviderError, match="no periods"):
        neso.fetch_region_forecast("13", REGION_13_START)


def test_string_region_ids_in_a_payload_are_tolerated() -> None:
    payload = load_json("neso_regional_fw48h.json")
    for period in payload["data"]:
        for region in period["regions"]:
            region["regionid"] = str(region["regionid"])
    assert len(parse_regional_by_time(payload, {"7"})) == 3


def test_fetch_national_forecast(server: FakeHttpServer, neso: NesoProvider) -> None:
    server.enqueue("/intensity/", Scripted(json_body=load_json("neso_national_fw48h.json")))
    readings = neso.fetch_national_forecast(NATIONAL_START + timedelta(minutes=40), hours=1)
    assert [r.period_start.strftime("%H:%M") for r in readings] == [
        "12:30",
        "13:00",
        "13:30",
    ]  # overlapping 12:40-13:40
    assert [r.path for r in server.requests] == ["/intensity/2023-01-26T12:30Z/fw48h"]
