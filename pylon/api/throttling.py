"""The per-principal request rate, and the ``RateLimit-*`` headers that tell a client where it stands.

A person is counted per user (``THROTTLE_USER_RATE``), an API key per key (``THROTTLE_API_KEY_RATE``):
a busy CI runner does not eat its operator's budget, and each has its own figure. Anonymous requests
are not counted here (the sign-in and registration endpoints have their own, per address).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
        allowed = super().allow_request(request, view)
        if self.rate is not None and getattr(self, "key", None) is not None:
            window = self.duration - (self.now - self.history[-1]) if self.history else self.duration
            record_rate_limit(
                request,
                RateLimit(
                    limit=self.num_requests,
                    remaining=max(0, self.num_requests - len(self.history)),
                    reset=max(0, math.ceil(window)),
                ),
            )
        return allowed
