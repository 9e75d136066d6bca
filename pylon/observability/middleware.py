"""Per-request observability: the request id and the one log line per request (outermost
middleware), and the request metrics by route."""

from __future__ import annotations

import functools
import logging
import re
import time

from django.utils.functional import SimpleLazyObject, empty

from pylon.observability import context
from pylon.observability.metrics import http_request_duration, http_requests

access_log = logging.getLogger("pylon.request")

REQUEST_ID_HEADER = "X-Request-ID"
_KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def route_of(request) -> str:
    """The URL pattern that served the request (``/api/v1/workloads/{pk}/cancel/``): a label with a
    bounded set of values, unlike the raw path. Unmatched paths (404s) share one label."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return "<unmatched>"
    return _route_label(match.route)


@functools.lru_cache(maxsize=1024)  # one entry per URL pattern: a bounded set, computed once each
def _route_label(route: str) -> str:
    route = _CONVERTER.sub(r"{\1}", _NAMED_GROUP.sub(r"{\1}", route))
    return "/" + route.replace("^", "").replace("$", "").replace("\\", "")


def _user_if_known(request):
    """The authenticated user if authentication already ran; never a session lookup just to log."""
    user = getattr(request, "user", None)
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return None
    return user


class RequestIdMiddleware:
    """Takes the caller's ``X-Request-ID`` (validated, length-capped) or makes one, returns it on the
    response, puts it on every log line of the request and on the tasks it enqueues
    (``observability.celery``), and logs one line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = context.accept_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        token = context.request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
            user = _user_if_known(request)
            access_log.info(
                "%s %s %s %.1fms",
                request.method,
                request.path,
                response.status_code,
                elapsed_ms,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": route_of(request),
                    "status": response.status_code,
                    "duration_ms": elapsed_ms,
                    "user_id": str(user.pk) if user is not None and user.is_authenticated else None,
                },
            )
            return response
        finally:
            context.request_id.reset(token)


class RequestMetricsMiddleware:
    """Counts requests by route, method and status, and times them (``pylon_http_*``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _KNOWN_METHODS else "other"
        route = route_of(request)
        http_request_duration.labels(route=route, method=method).observe(time.perf_counter() - started)
        http_requests.labels(route=route, method=method, status=str(response.status_code)).inc()
        return response
