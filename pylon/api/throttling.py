"""The per-principal request rate, and the ``RateLimit-*`` headers that tell a client where it stands.

A person is counted per user (``THROTTLE_USER_RATE``), an API key per key (``THROTTLE_API_KEY_RATE``):
a busy CI runner does not eat its operator's budget, and each has its own figure. Anonymous requests
are not counted here (the sign-in and registration endpoints have their own, per address).

The rule is DRF's sliding-window log; with Redis it is kept as a sorted set and checked and recorded
in one round trip (``FailOpenRedisCache.log_hit``), where DRF reads and writes a pickled list (two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from rest_framework.throttling import SimpleRateThrottle

from pylon.api.permissions import is_api_key

LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


@dataclass(frozen=True)
class RateLimit:
    limit: int
    remaining: int
    reset: int  # seconds until the oldest counted request leaves the window

    def headers(self) -> dict[str, str]:
        return dict(zip(LIMIT_HEADERS, (str(self.limit), str(self.remaining), str(self.reset)), strict=True))


def record_rate_limit(request, limit: RateLimit) -> None:
    """Keep the tightest of the throttles that applied to the request (for the response headers)."""
    current = getattr(request, "rate_limit", None)
    if current is None or limit.remaining < current.remaining:
        request.rate_limit = limit


class PrincipalRateThrottle(SimpleRateThrottle):
    scope = "user"
    # Its own keys: the log is a sorted set, where DRF's format held a pickled list.
    cache_format = "throttle-log_%(scope)s_%(ident)s"

    def __init__(self):
        # The rate depends on the caller (user or key): read in allow_request, not here.
        pass

    def get_cache_key(self, request, view):
        if is_api_key(request.auth):
            return self.cache_format % {"scope": "api_key", "ident": request.auth.pk}
        if request.user and request.user.is_authenticated:
            return self.cache_format % {"scope": "user", "ident": request.user.pk}
        return None

    def allow_request(self, request, view):
        self.scope = "api_key" if is_api_key(request.auth) else "user"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = None if self.rate is None else self.get_cache_key(request, view)
        if self.key is None:
            return True
        log_hit = getattr(caches[DEFAULT_CACHE_ALIAS], "log_hit", None)
        if log_hit is None:  # the in-memory cache (no Redis): DRF's own list of times
            allowed = super().allow_request(request, view)
            self.counted, self.oldest = len(self.history), (self.history[-1] if self.history else None)
        else:
            self.now = self.timer()
            allowed, self.counted, self.oldest = log_hit(
                self.key, now=self.now, window=self.duration, limit=self.num_requests
            )
        record_rate_limit(
            request,
            RateLimit(
                limit=self.num_requests,
                remaining=max(0, self.num_requests - self.counted),
                reset=max(0, math.ceil(self._window_left())),
            ),
        )
        return allowed

    def _window_left(self) -> float:
        """Seconds until the oldest counted request leaves the window."""
        return self.duration if self.oldest is None else self.duration - (self.now - self.oldest)

    def wait(self):
        # DRF's rule (the Retry-After of a 429), from the log's figures rather than its list.
        available = self.num_requests - self.counted + 1
        return None if available <= 0 else self._window_left() / float(available)
