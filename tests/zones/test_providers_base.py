"""Shared provider types, index bands, and the HTTP error mapping every client relies on."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests

from tests.zones.carbon_fixtures import REPO_ROOT
from tests.zones.fake_server import FakeHttpServer, Scripted
from zones.providers._http import JsonHttpClient
from zones.providers.bands import INDEX_BANDS, IndexBand, index_band
from zones.providers.base import (
    IntensityReading,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    floor_half_hour,
    window_filter,
)

T0 = datetime(2023, 3, 15, 20, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FakeHttpServer]:
    with FakeHttpServer() as fake:
        yield fake


def reading(start: datetime, zone: str = "1") -> IntensityReading:
    return IntensityReading(zone, start, start + timedelta(minutes=30), forecast=100.0)


# -- IntensityReading ---------------------------------------------------------


def test_reading_requires_utc_aware_periods() -> None:
    with pytest.raises(ValueError, match="UTC-aware"):
        IntensityReading("1", datetime(2023, 1, 1), datetime(2023, 1, 1, 0, 30), 10.0)
    bst = timezone(timedelta(hours=1))
    with pytest.raises(ValueError, match="UTC-aware"):
        IntensityReading("1", T0.astimezone(bst), T0 + timedelta(minutes=30), 10.0)


def test_reading_requires_end_after_start() -> None:
    with pytest.raises(ValueError, match="after"):
        IntensityReading("1", T0, T0, 10.0)


def test_reading_is_frozen() -> None:
    with pytest.raises(AttributeError):
        reading(T0).forecast = 1.0  # type: ignore[misc]


def test_error_hierarchy_lets_callers_catch_one_base() -> None:
    assert issubclass(TransientProviderError, ProviderError)
    assert issubclass(PermanentProviderError, ProviderError)
    assert not issubclass(TransientProviderError, PermanentProviderError)


def test_window_filter_keeps_requested_hours_from_the_containing_half_hour() -> None:
    readings = [reading(T0 + timedelta(minutes=30 * i)) for i in range(-2, 10)]
    kept = window_filter(readings, T0 + timedelta(minutes=10), hours=2)
    assert [r.period_start for r in kept] == [T0 + timedelta(minutes=30 * i) for i in range(5)]
    assert floor_half_hour(T0 + timedelta(minutes=59, seconds=59)) == T0 + timedelta(minutes=30)


# -- bands --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "bounds"),
    [
        (2023, (40, 120, 200, 290)),
        (2024, (35, 110, 190, 271)),
        (2025, (30, 100, 180, 251)),
        (2026, (25, 90, 170, 231)),
    ],
)
def test_band_boundaries_per_year(year: int, bounds: tuple[int, ...]) -> None:
    assert index_band(0, datetime(year, 6, 1, tzinfo=UTC)) == "very low"
    for lower, band, below in zip(bounds, INDEX_BANDS[1:], INDEX_BANDS[:-1], strict=True):
        assert index_band(lower, datetime(year, 6, 1, tzinfo=UTC)) == band
        assert index_band(lower - 0.5, datetime(year, 6, 1, tzinfo=UTC)) == below
    assert index_band(5000, datetime(year, 6, 1, tzinfo=UTC)) == "very high"


def test_band_years_outside_the_published_range_clamp() -> None:
    assert (
        index_band(39, datetime(2019, 6, 1, tzinfo=UTC))
        == index_band(39, datetime(2023, 6, 1, tzinfo=UTC))
        == "very low"
    )
    assert (
        index_band(231, datetime(2031, 6, 1, tzinfo=UTC))
        == index_band(231, datetime(2026, 6, 1, tzinfo=UTC))
        == "very high"
    )


def test_band_names_match_the_api_spelling_in_order() -> None:
    assert list(INDEX_BANDS) == ["very low", "low", "moderate", "high", "very high"]
    assert IndexBand.VERY_HIGH == "very high"
    assert isinstance(index_band(100, datetime(2023, 6, 1, tzinfo=UTC)), str)


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_band_rejects_impossible_intensities(bad: float) -> None:
    with pytest.raises(ValueError):
        index_band(bad, datetime(2023, 6, 1, tzinfo=UTC))


# -- JsonHttpClient error mapping ----------------------------------------------


def client(server: FakeHttpServer, **kwargs: object) -> JsonHttpClient:
    return JsonHttpClient("test", server.base_url, timeout=(1.0, 0.5), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_rate_limits_are_transient(server: FakeHttpServer, status: int) -> None:
    server.enqueue("/x", Scripted(status=status, body=b"oops"))
    with pytest.raises(TransientProviderError) as caught:
        client(server).get("/x")
    assert caught.value.status == status
    assert caught.value.provider == "test"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 415])
def test_other_client_errors_are_permanent(server: FakeHttpServer, status: int) -> None:
    message = {"error": {"code": f"{status}", "message": "Unsupported Media Type"}}
    server.enqueue("/x", Scripted(status=status, json_body=message))
    with pytest.raises(PermanentProviderError, match="Unsupported Media Type") as caught:
        client(server).get("/x")
    assert caught.value.status == status


def test_empty_bodies_are_transient(server: FakeHttpServer) -> None:
    server.enqueue("/x", Scripted(json_body={}), Scripted(body=b""))
    with pytest.raises(TransientProviderError, match="empty body"):
        client(server).get("/x")
    with pytest.raises(TransientProviderError, match="empty body"):
        client(server).get("/x")


def test_malformed_json_is_permanent(server: FakeHttpServer) -> None:
    server.enqueue("/x", Scripted(body=b"<html>maintenance</html>"))
    with pytest.raises(PermanentProviderError, match="malformed JSON"):
        client(server).get("/x")


def test_error_payload_with_200_is_classified_by_its_code(server: FakeHttpServer) -> None:
    server.enqueue(
        "/x",
        Scripted(json_body={"error": {"code": "400 Bad Request", "message": "bad date"}}),
        Scripted(json_body={"error": {"code": "503 Service Unavailable", "message": "busy"}}),
    )
    with pytest.raises(PermanentProviderError, match="bad date"):
        client(server).get("/x")
    with pytest.raises(TransientProviderError, match="busy"):
        client(server).get("/x")


def test_slow_response_hits_the_read_timeout_and_is_transient(server: FakeHttpServer) -> None:
    server.enqueue("/slow", Scripted(json_body={"data": []}, delay=5.0))
    began = time.monotonic()
    with pytest.raises(TransientProviderError, match="timed out|Read timed out"):
        client(server).get("/slow")
    assert time.monotonic() - began < 3.0
    assert len(server.requests_to("/slow")) == 1


def test_connection_refused_is_transient() -> None:
    with FakeHttpServer() as gone:
        base_url = gone.base_url  # a port that is closed once the server stops
    with pytest.raises(TransientProviderError):
        JsonHttpClient("test", base_url, timeout=(1.0, 1.0)).get("/x")


def test_never_sends_content_type_even_if_the_session_sets_one(server: FakeHttpServer) -> None:
    session = requests.Session()
    session.headers["Content-Type"] = "application/json"
    server.enqueue("/x", Scripted(json_body={"data": [1]}))
    assert client(server, session=session).get("/x", params={"zone": "FR"}) == {"data": [1]}
    (request,) = server.requests
    assert "content-type" not in request.headers
    assert request.headers["accept"] == "application/json"
    assert request.query == {"zone": ["FR"]}


def test_fake_server_prefers_longest_prefix_then_repeat_then_404(server: FakeHttpServer) -> None:
    server.enqueue("/a", Scripted(json_body={"which": "short"}))
    server.enqueue("/a/b", Scripted(json_body={"which": "long"}))
    server.repeat("/a/b", Scripted(json_body={"which": "again"}))
    http = client(server)
    assert http.get("/a/b/c") == {"which": "long"}
    assert http.get("/a/b/c") == {"which": "again"}
    assert http.get("/a/z") == {"which": "short"}
    assert server.pending() == {}
    with pytest.raises(PermanentProviderError, match="nothing scripted"):
        http.get("/zzz")


def test_provider_package_imports_no_django() -> None:
    code = "import sys, zones.providers; sys.exit(any(m.startswith('django') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=False).returncode == 0
