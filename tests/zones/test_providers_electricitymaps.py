"""Electricity Maps v3: recorded latest/forecast/history payloads, and the client against a fake server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.zones.carbon_fixtures import load_json
from tests.zones.fake_server import FakeHttpServer, Scripted
from zones.providers.base import CarbonIntensityProvider, PermanentProviderError, TransientProviderError
from zones.providers.electricitymaps import ElectricityMapsProvider, parse_response

HALF_HOUR = timedelta(minutes=30)
FORECAST_START = datetime(2022, 1, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FakeHttpServer]:
    with FakeHttpServer() as fake:
        yield fake


@pytest.fixture
def em(server: FakeHttpServer) -> ElectricityMapsProvider:
    return ElectricityMapsProvider("secret-token", server.base_url, timeout=(1.0, 0.5))


def test_forecast_hours_become_pairs_of_half_hour_forecasts() -> None:
    payload = load_json("electricitymaps_forecast_ES.json")
    readings = parse_response(payload, "forecast", "ES")
    assert len(readings) == 2 * len(payload["forecast"]) == 48
    first, second = readings[:2]
    assert (first.period_start, first.period_end) == (FORECAST_START, FORECAST_START + HALF_HOUR)
    assert (second.period_start, second.period_end) == (FORECAST_START + HALF_HOUR, FORECAST_START + 2 * HALF_HOUR)
    assert first.forecast == second.forecast == payload["forecast"][0]["carbonIntensity"]
    assert all(r.actual is None and r.index is None and r.zone_key == "ES" for r in readings)


def test_history_and_latest_fill_actual() -> None:
    history = parse_response(load_json("electricitymaps_history_ES.json"), "history", "ES")
    assert len(history) == 48 and all(r.forecast is None and r.actual is not None for r in history)
    latest = parse_response(load_json("electricitymaps_latest_FR.json"), "latest", "FR")
    start = datetime(2023, 1, 23, 17, 0, tzinfo=UTC)
    assert [(r.period_start, r.actual) for r in latest] == [(start, 103.0), (start + HALF_HOUR, 103.0)]


def test_null_intensity_points_are_skipped() -> None:
    payload = load_json("electricitymaps_history_ES.json")
    payload["history"][0]["carbonIntensity"] = None
    assert len(parse_response(payload, "history", "ES")) == 46


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda p: p.update(zone="PT"), "response is for 'PT'"),
        (lambda p: p["forecast"][0].update(datetime="2022-01-02T00:10:00.000Z"), "not on a half hour"),
        (lambda p: p["forecast"][0].update(carbonIntensity="low"), "not a number"),
        (lambda p: p.pop("forecast"), "KeyError"),
    ],
)
def test_malformed_payloads_are_permanent(edit, match: str) -> None:
    payload = load_json("electricitymaps_forecast_ES.json")
    edit(payload)
    with pytest.raises(PermanentProviderError, match=match):
        parse_response(payload, "forecast", "ES")


def test_missing_token_is_permanent_and_makes_no_request(server: FakeHttpServer) -> None:
    provider = ElectricityMapsProvider(None, server.base_url)
    assert isinstance(provider, CarbonIntensityProvider)
    with pytest.raises(PermanentProviderError, match="ELECTRICITYMAPS_API_TOKEN"):
        provider.fetch_forecast(["ES"], FORECAST_START)
    assert server.requests == []


def test_fetch_forecast_calls_once_per_zone_with_the_token(server: FakeHttpServer, em: ElectricityMapsProvider) -> None:
    es = load_json("electricitymaps_forecast_ES.json")
    fr = load_json("electricitymaps_forecast_ES.json")
    fr["zone"] = "FR"
    server.enqueue("/v3/carbon-intensity/forecast", Scripted(json_body=es), Scripted(json_body=fr))
    readings = em.fetch_forecast(["ES", "FR", "ES"], FORECAST_START + timedelta(hours=5), hours=2)
    assert [(r.zone_key, r.period_start.hour) for r in readings[:4]] == [("ES", 5), ("FR", 5), ("ES", 5), ("FR", 5)]
    assert len(readings) == 8
    requests = server.requests
    assert [r.query["zone"] for r in requests] == [["ES"], ["FR"]]
    assert all(r.headers["auth-token"] == "secret-token" for r in requests)
    assert all(r.query["emissionFactorType"] == ["direct"] for r in requests)
    assert all("content-type" not in r.headers for r in requests)


def test_latest_and_history_endpoints(server: FakeHttpServer, em: ElectricityMapsProvider) -> None:
    server.enqueue("/v3/carbon-intensity/latest", Scripted(json_body=load_json("electricitymaps_latest_FR.json")))
    server.enqueue("/v3/carbon-intensity/history", Scripted(json_body=load_json("electricitymaps_history_ES.json")))
    assert len(em.fetch_latest("FR")) == 2
    assert len(em.fetch_history("ES")) == 48
    assert [r.path for r in server.requests] == ["/v3/carbon-intensity/latest", "/v3/carbon-intensity/history"]


def test_unknown_zone_is_permanent_and_named(server: FakeHttpServer, em: ElectricityMapsProvider) -> None:
    server.enqueue("/v3/", Scripted(status=404, json_body={"error": "Zone 'XX' does not exist."}))
    with pytest.raises(PermanentProviderError, match="zone=XX.*does not exist"):
        em.fetch_forecast(["XX"], FORECAST_START)


def test_rate_limit_is_transient(server: FakeHttpServer, em: ElectricityMapsProvider) -> None:
    server.enqueue("/v3/", Scripted(status=429, json_body={"message": "Too many requests"}))
    with pytest.raises(TransientProviderError, match="429"):
        em.fetch_forecast(["ES"], FORECAST_START)
