"""The per-principal throttle: DRF's sliding-window rule and headers, on Redis in one round trip."""

import time

import pytest
from django.core.cache import DEFAULT_CACHE_ALIAS, caches

from conftest import client_for
from pylon.api.throttling import PrincipalRateThrottle
from pylon.cache import FailOpenRedisCache
from tests.zones.factories import GridZoneFactory

pytestmark = pytest.mark.django_db

ZONES = "/api/v1/zones/"


def _redis_cache():
    cache = caches[DEFAULT_CACHE_ALIAS]
    if not isinstance(cache, FailOpenRedisCache):
        pytest.skip("the cache of this run is in memory (no REDIS_URL): no round trips to count")
    return cache


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, set by the test (seconds)."""
    now = [1_000_000.0]
    monkeypatch.setattr(PrincipalRateThrottle, "timer", lambda self: now[0])
    return now


def _figures(response):
    return (
        response.status_code,
        response["RateLimit-Remaining"],
        response["RateLimit-Reset"],
        response.get("Retry-After"),
    )


def test_the_window_slides_and_a_refused_request_is_not_counted(user, clock, monkeypatch):
    monkeypatch.setattr(PrincipalRateThrottle, "THROTTLE_RATES", {"user": "3/min", "api_key": "3/min"})
    GridZoneFactory()
    client = client_for(user)
    answers = []
    for at in (0, 10, 20, 30, 45, 60, 60.5):
        clock[0] = 1_000_000.0 + at
        answers.append(_figures(client.get(ZONES)))
    assert answers == [
        (200, "2", "60", None),
        (200, "1", "50", None),  # the first request leaves the window 60 s after it came
        (200, "0", "40", None),
        (429, "0", "30", "30"),  # refused: Retry-After is when a place frees
        (429, "0", "15", "15"),  # the refusal at 30 s took no place
        (200, "0", "10", None),  # at 60 s the first has left (a time leaves at exactly now - 60)
        (429, "0", "10", "10"),
    ]


def test_a_request_costs_one_redis_round_trip(user, monkeypatch):
    _redis_cache()
    from redis.connection import AbstractConnection

    GridZoneFactory()
    client = client_for(user)
    assert client.get(ZONES).status_code == 200  # the first registers the script (SCRIPT LOAD)
    sent = []
    send = AbstractConnection.send_packed_command
    monkeypatch.setattr(
        AbstractConnection, "send_packed_command", lambda self, *a, **k: (sent.append(a[0]), send(self, *a, **k))[1]
    )
    for _ in range(3):
        response = client.get(ZONES)
        assert response.status_code == 200 and response.has_header("RateLimit-Remaining")
    assert len(sent) == 3, sent


def test_a_script_redis_does_not_know_is_loaded_again(user):
    # After a Redis restart (or SCRIPT FLUSH) the registered hash is unknown: redis-py loads the script
    # again. Simulated with a hash Redis never saw, not by flushing a server other tests share.
    cache = _redis_cache()
    GridZoneFactory()
    client = client_for(user)
    first = client.get(ZONES)
    for script in cache._cache._log_hit_scripts.values():
        script.sha = "0" * 40
    second = client.get(ZONES)
    assert int(first["RateLimit-Remaining"]) == int(second["RateLimit-Remaining"]) + 1


def test_concurrent_requests_cannot_both_take_the_last_place():
    # DRF reads the history, then writes it back: two processes could both see one place left.
    # The script checks and records in one step, so of 12 at once exactly the limit get in.
    from tests.reliability.faults import at_once

    _redis_cache()
    results = at_once(
        12,
        lambda: caches[DEFAULT_CACHE_ALIAS].log_hit("throttle-log_race", now=time.time(), window=60, limit=5),
    )
    assert sorted(hit.allowed for hit in results) == [False] * 7 + [True] * 5
    assert max(hit.count for hit in results) == 5
