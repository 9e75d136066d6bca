"""``GET /metrics`` for Prometheus, behind a bearer token or an allowed network."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework.throttling import BaseThrottle

from pylon.api.exceptions import error_body
from pylon.core.exceptions import ErrorCode
from pylon.observability.collectors import scrape_registry


def _client_address(request) -> str:
    # The same rule as the throttles: REMOTE_ADDR unless TRUSTED_PROXY_COUNT proxies are trusted.
    return BaseThrottle().get_ident(request)


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return True
    try:
        address = ipaddress.ip_address(_client_address(request).strip())
    except ValueError:
        return False
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(network, strict=False) for network in settings.METRICS_ALLOWED_NETWORKS)


@require_GET
def metrics(request):
    if not _allowed(request):
        return JsonResponse(
            error_body(ErrorCode.PERMISSION_DENIED, "Send the metrics token, or scrape from an allowed network."),
            status=403,
        )
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
