"""The cache is an optimisation, never a dependency.

Pylon keeps throttle counters and short locks in Redis. When Redis is stopped or frozen, every
operation here fails within the socket timeouts (well under a second) and degrades *open*: a read
is a miss, a write is dropped, ``add`` (the lock primitive) answers "acquired". So login, token
refresh and every read keep answering — unthrottled, and with tasks that may overlap, which their
idempotent writes make harmless. Each failure is logged (once per outage) and counted
(``pylon_cache_fail_open_total``).

After a failure the cache is not tried again for ``RETRY_AFTER_SECONDS`` (a small circuit breaker
per process), so an outage costs one timeout per process and period, not one per request.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from typing import Any, NamedTuple

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

from pylon.observability.metrics import cache_fail_open

logger = logging.getLogger(__name__)


def redis_cache(location: str, *, key_prefix: str, socket_timeout: float, retry_after: float) -> dict[str, Any]:
    """The ``CACHES["default"]`` entry for a Redis at ``location`` (settings and tests build it here)."""
    return {
        "BACKEND": "pylon.cache.FailOpenRedisCache",
        "LOCATION": location,
        "KEY_PREFIX": key_prefix,
        "OPTIONS": {
            # Passed to redis-py's connection pool: bounded connect and read (it retries nothing by default).
            "socket_connect_timeout": socket_timeout,
            "socket_timeout": socket_timeout,
            "retry_after": retry_after,
        },
    }


class _Breaker:
    """When the cache at one location failed, and so is skipped until; shared by a process's threads
    (Django gives each thread its own cache object)."""

    _lock = threading.Lock()
    _down_until: dict[str, float] = {}

    @classmethod
    def is_open(cls, location: str) -> bool:
        return time.monotonic() < cls._down_until.get(location, 0.0)

    @classmethod
    def trip(cls, location: str, seconds: float) -> bool:
        """Mark the location down; True when it was up (the first failure of an outage)."""
        with cls._lock:
            was_up = location not in cls._down_until
            cls._down_until[location] = time.monotonic() + seconds
            return was_up

    @classmethod
    def close(cls, location: str) -> bool:
        """Mark the location up; True when it was down (the end of an outage)."""
        with cls._lock:
            return cls._down_until.pop(location, None) is not None

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls._down_until.clear()


def _fail_open(fallback):
    """Run the cache operation; when Redis fails (or is known down), count it and answer ``fallback``
    (called with the operation's arguments, so ``get`` can return its ``default``)."""

    def decorate(method):
        name = method.__name__

        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if _Breaker.is_open(self._location_key):
                cache_fail_open.labels(operation=name).inc()
                return fallback(*args, **kwargs)
            try:
                result = method(self, *args, **kwargs)
            except RedisError as exc:
                cache_fail_open.labels(operation=name).inc()
                if _Breaker.trip(self._location_key, self._retry_after):
                    logger.warning(
                        "cache unavailable (%s: %s); failing open for %.0f s at a time: no throttling, no locks",
                        type(exc).__name__,
                        exc,
                        self._retry_after,
                    )
                return fallback(*args, **kwargs)
            if _Breaker.close(self._location_key):
                logger.warning("cache available again")
            return result

        return wrapper

    return decorate


def _default(key, default=None, *args, **kwargs):
    return default


def _nothing(*args, **kwargs):
    return None


def _false(*args, **kwargs):
    return False


def _acquired(*args, **kwargs):
    return True  # a lock nobody can hold is no lock: proceed


def _empty_dict(*args, **kwargs):
    return {}


def _all_failed(data, *args, **kwargs):
    return list(data)


def _delta(key, delta=1, *args, **kwargs):
    return delta  # a counter that cannot be read starts again


class WindowHit(NamedTuple):
    """A request offered to a sliding-window log: let in or not, and the log as it now stands."""

    allowed: bool
    count: int  # requests in the window, this one included when it was let in
    oldest: float | None  # when the oldest of them came (None: the window is empty)


def _first_of_window(key, *, now, window, limit):
    return WindowHit(True, 1, now)  # a log that cannot be read starts again: the request is let in


#: Prune the times that left the window, refuse when it is full, else record this one: one round
#: trip, atomic (two processes cannot both take the last place). The same rule as DRF's
#: ``SimpleRateThrottle``: a time leaves at ``now - window`` inclusive; a refused request is not
#: recorded. The oldest score is returned as Redis prints it (a Lua number would be truncated).
_LOG_HIT_LUA = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
    count = count + 1
    allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {allowed, count, oldest[2] or false}
"""


class _RedisCacheClient(RedisCacheClient):
    """Django's, with one ``redis.Redis`` per connection pool: Django builds a new one (and its table
    of response callbacks) for every operation, a third of what a throttle's read costs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}
        self._log_hit_scripts = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client

    def log_hit(self, key, *, now: float, window: float, limit: int, member: str) -> WindowHit:
        client = self.get_client(key, write=True)
        # Registered once per client: EVALSHA from then on (redis-py loads it again if Redis forgot it).
        script = self._log_hit_scripts.get(id(client))
        if script is None:
            script = self._log_hit_scripts[id(client)] = client.register_script(_LOG_HIT_LUA)
        allowed, count, oldest = script(keys=[key], args=[repr(now), repr(float(window)), limit, member])
        return WindowHit(bool(allowed), int(count), None if oldest is None else float(oldest))


class FailOpenRedisCache(RedisCache):
    """Django's Redis cache with bounded sockets, failing open (module docstring)."""

    def __init__(self, server, params):
        options = dict(params.get("OPTIONS", {}))
        self._retry_after = float(options.pop("retry_after", 5.0))
        super().__init__(server, {**params, "OPTIONS": options})
        self._class = _RedisCacheClient
        self._location_key = ",".join(self._servers)

    add = _fail_open(_acquired)(RedisCache.add)
    get = _fail_open(_default)(RedisCache.get)
    set = _fail_open(_nothing)(RedisCache.set)
    touch = _fail_open(_false)(RedisCache.touch)
    delete = _fail_open(_false)(RedisCache.delete)
    get_many = _fail_open(_empty_dict)(RedisCache.get_many)
    has_key = _fail_open(_false)(RedisCache.has_key)
    incr = _fail_open(_delta)(RedisCache.incr)
    set_many = _fail_open(_all_failed)(RedisCache.set_many)
    delete_many = _fail_open(_nothing)(RedisCache.delete_many)
    clear = _fail_open(_false)(RedisCache.clear)

    @_fail_open(_first_of_window)
    def log_hit(self, key, *, now: float, window: float, limit: int) -> WindowHit:
        """Offer a request made at ``now`` to the log of the last ``window`` seconds at ``key``, which
        lets ``limit`` in (the throttles' primitive: one Redis round trip, see ``_LOG_HIT_LUA``)."""
        key = self.make_and_validate_key(key)
        # A member per request: two requests in the same microsecond are two entries, not one.
        return self._cache.log_hit(key, now=now, window=window, limit=limit, member=f"{now!r}:{os.urandom(6).hex()}")
