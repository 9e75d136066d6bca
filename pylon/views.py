"""Project-level views: health, and JSON answers for errors Django raises outside DRF."""

import logging

from django.conf import settings
from django.db import connection, models
from django.http import HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.views.defaults import bad_request as html_bad_request
from django.views.defaults import page_not_found
from django.views.defaults import server_error as html_server_error
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from pylon.api.exceptions import error_body
from pylon.celery import app
from pylon.core.exceptions import ErrorCode

logger = logging.getLogger(__name__)


def _is_api(request) -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/healthz")


def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body(ErrorCode.NOT_FOUND, "No such endpoint."), status=404)
    return page_not_found(request, exception)


def bad_request(request, exception=None):
    """Django's own 400s (e.g. a body over DATA_UPLOAD_MAX_MEMORY_SIZE read outside DRF)."""
    if _is_api(request):
        return JsonResponse(error_body(ErrorCode.VALIDATION_ERROR, "Bad request."), status=400)
    return html_bad_request(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse(error_body(ErrorCode.SERVER_ERROR, "Internal server error."), status=500)
    return html_server_error(request)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"  # no broker configured: tasks run in-process
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


class HealthStatus(models.TextChoices):
    OK = "ok", "All checks pass"
    ERROR = "error", "A check failed"


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=HealthStatus.choices)
    checks = serializers.DictField(
        child=serializers.CharField(),
        help_text="`database`: ok/error; `broker`: ok/error, or `eager` when Celery runs in-process.",
    )


@extend_schema(
    operation_id="healthz",
    tags=["health"],
    summary="Database and broker health",
    auth=[],
    responses={200: HealthSerializer, 503: HealthSerializer},
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def healthz(request):
    """Liveness and readiness in one: 200 when the database and the broker answer, else 503."""
    checks: dict[str, str] = {}
    healthy = True
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            checks[name] = check()
        except Exception as exc:  # a health check reports failures; it must not raise them
            logger.warning("health check %s failed: %s", name, exc)
            checks[name] = "error"
            healthy = False
    return Response({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says: send them to the static icon."""
    return HttpResponseRedirect(static("console/favicon.svg"))
