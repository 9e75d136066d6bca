"""WattTime v3: login, token reuse and refresh, unit conversion and half-hour aggregation."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.zones.carbon_fixtures import load_json
from tests.zones.fake_server import FakeHttpServer, Scripted
from zones.providers.base import CarbonIntensityProvider, PermanentProviderError, TransientProviderError
from zones.providers.watttime import LBS_PER_MWH_TO_G_PER_KWH, WattTimeProvider, parse_forecast

REGION = "CAISO_NORTH"
START = datetime(2023, 8, 3, 17, 30, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FakeHttpServer]:
    with FakeHttpServer() as fake:
        yield fake


@pytest.fixture
def watttime(server: FakeHttpServer) -> WattTimeProvider:
    return WattTimeProvider("alice", "s3cret", server.base_url, timeout=(1.0, 0.5))


def login(token: str) -> Scripted:
    return Scripted(json_body={"token": token})


def forecast() -> Scripted:
    return Scripted(json_body=load_json("watttime_forecast_CAISO_NORTH.json"))


def test_five_minute_points_become_half_hour_means_in_g_per_kwh() -> None:
    readings = parse_forecast(load_json("watttime_forecast_CAISO_NORTH.json"), REGION)
    assert [r.period_start for r in readings] == [START + timedelta(minutes=30 * i) for i in range(3)]
    means_lbs = [412.5, 912.5, 1010.0]  # the last half hour is partial (3 points)
    assert [r.forecast for r in readings] == pytest.approx([m * 0.4536 for m in means_lbs], rel=1e-4)
    assert pytest.approx(0.4536, abs=1e-4) == LBS_PER_MWH_TO_G_PER_KWH
    assert all(r.zone_key == REGION and r.actual is None and r.index is None for r in readings)


def test_units_are_read_from_meta() -> None:
    payload = load_json("watttime_forecast_CAISO_NORTH.json")
    payload["meta"]["units"] = "kg_co2_per_mwh"
    assert parse_forecast(payload, REGION)[0].forecast == pytest.approx(412.5)
    payload["meta"]["units"] = "percentile"
    with pytest.raises(PermanentProviderError, match="unsupported units"):
        parse_forecast(payload, REGION)


def test_payload_for_another_region_is_permanent() -> None:
    with pytest.raises(PermanentProviderError, match="response is for 'CAISO_NORTH'"):
        parse_forecast(load_json("watttime_forecast_CAISO_NORTH.json"), "PJM")


def test_missing_data_is_transient() -> None:
    with pytest.raises(TransientProviderError):
        parse_forecast({"meta": {"units": "lbs_co2_per_mwh"}}, REGION)


def test_logs_in_once_and_reuses_the_token(server: FakeHttpServer, watttime: WattTimeProvider) -> None:
    assert isinstance(watttime, CarbonIntensityProvider)
    server.enqueue("/login", login("token-1"))
    server.repeat("/v3/forecast", forecast())
    assert len(watttime.fetch_forecast([REGION], START)) == 3
    assert len(watttime.fetch_forecast([REGION], START, hours=1)) == 2
    (login_request,) = server.requests_to("/login")
    basic = base64.b64encode(b"alice:s3cret").decode()
    assert login_request.headers["authorization"] == f"Basic {basic}"
    data_requests = server.requests_to("/v3/forecast")
    assert [r.headers["authorization"] for r in data_requests] == ["Bearer token-1"] * 2
    assert data_requests[0].query == {"region": [REGION], "signal_type": ["co2_moer"], "horizon_hours": ["48"]}
    assert all("content-type" not in r.headers for r in server.requests)


def test_401_triggers_one_relogin_and_retry(server: FakeHttpServer, watttime: WattTimeProvider) -> None:
    server.enqueue("/login", login("token-1"), login("token-2"))
    server.enqueue("/v3/forecast", Scripted(status=401, json_body={"error": "expired"}), forecast())
    assert len(watttime.fetch_forecast([REGION], START)) == 3
    assert [r.headers["authorization"] for r in server.requests_to("/v3/forecast")] == [
        "Bearer token-1",
        "Bearer token-2",
    ]
    assert len(server.requests_to("/login")) == 2


def test_second_401_is_permanent(server: FakeHttpServer, watttime: WattTimeProvider) -> None:
    server.enqueue("/login", login("token-1"), login("token-2"))
    server.repeat("/v3/forecast", Scripted(status=401, json_body={"error": "no access"}))
    with pytest.raises(PermanentProviderError) as caught:
        watttime.fetch_forecast([REGION], START)
    assert caught.value.status == 401
    assert len(server.requests_to("/login")) == 2
    assert len(server.requests_to("/v3/forecast")) == 2


def test_rate_limit_is_transient(server: FakeHttpServer, watttime: WattTimeProvider) -> None:
    server.enqueue("/login", login("token-1"))
    server.enqueue("/v3/forecast", Scripted(status=429, json_body={"error": "slow down"}))
    with pytest.raises(TransientProviderError) as caught:
        watttime.fetch_forecast([REGION], START)
    assert caught.value.status == 429


def test_bad_or_missing_credentials_are_permanent(server: FakeHttpServer, watttime: WattTimeProvider) -> None:
    server.enqueue("/login", Scripted(status=403, json_body={"error": "bad credentials"}))
    with pytest.raises(PermanentProviderError, match="bad credentials"):
        watttime.fetch_forecast([REGION], START)
    with pytest.raises(PermanentProviderError, match="no credentials"):
        WattTimeProvider(None, None, server.base_url).fetch_forecast([REGION], START)
    assert len(server.requests) == 1


def test_login_without_a_token_is_permanent(server: FakeHttpServer, watttime: WattTimeProvider) -> None:
    server.enqueue("/login", Scripted(json_body={"message": "ok"}))
    with pytest.raises(PermanentProviderError, match="login payload"):
        watttime.fetch_forecast([REGION], START)
