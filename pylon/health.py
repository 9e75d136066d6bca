"""Health endpoints: ``/healthz`` (readiness: the dependencies, within a bounded time) and
``/livez`` (liveness: the process answers, nothing external is checked)."""

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from outbox.selectors import outbox_backlog
from pylon.background import bounded_broker_connection

logger = logging.getLogger(__name__)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()  # the check's own thread and connection: leave nothing open
    return "ok"


def _check_broker() -> str:
    from pylon.celery import app

    if app.conf.task_always_eager:
        return "eager"  # no broker configured: tasks run in-process
    with bounded_broker_connection(timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS) as conn:
        # Connecting proves little against a frozen server that accepts and never answers: ask it.
        conn.default_channel.client.ping()
    return "ok"


def _check_outbox() -> str:
    """The oldest event no handler has taken: a backlog that ages means workers or the broker are away."""
    try:
        backlog = outbox_backlog()
    finally:
        connection.close()
    oldest = backlog["oldest_created_at"]
    if oldest is not None and timezone.now() - oldest > timedelta(seconds=settings.OUTBOX_BACKLOG_ALERT_SECONDS):
        raise RuntimeError(f"{backlog['pending']} event(s) wait, the oldest since {oldest.isoformat()}")
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {"database": _check_database, "broker": _check_broker, "outbox": _check_outbox}


def run_checks(checks: dict[str, Callable[[], str]], *, timeout: float) -> dict[str, str]:
    """Run every check at once, each in its own daemon thread, and wait at most ``timeout`` in all.
    A check that has not answered by then is ``timeout``; one that raised is ``error``. A hung check
    is left behind (its thread ends with its own socket timeout) and never holds the answer."""
    results: dict[str, str] = {}

    def run(name: str, check: Callable[[], str]) -> None:
        try:
            results[name] = check()
        except Exception as exc:  # a health check reports failures; it must not raise them
            logger.warning("health check %s failed: %s", name, exc)
            results[name] = "error"

    threads = {name: threading.Thread(target=run, args=(name, check), daemon=True) for name, check in checks.items()}
    for thread in threads.values():
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    answered = dict(results)
    for name in checks:
        if name not in answered:
            logger.warning("health check %s did not answer within %.1f s", name, timeout)
    return {name: answered.get(name, "timeout") for name in checks}


class HealthStatus(models.TextChoices):
    OK = "ok", "All checks pass"
    ERROR = "error", "A check failed"


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=HealthStatus.choices)
    checks = serializers.DictField(
        child=serializers.CharField(),
        help_text=(
            "`database`, `broker`, `outbox`: `ok`, `error` (it failed), `timeout` (no answer in time); "
            "`broker` is `eager` when Celery runs in-process. `outbox` fails when an event has waited for "
            "its handlers longer than the alert age (workers or the broker are away)."
        ),
    )


class LivenessSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=HealthStatus.choices)


@transaction.non_atomic_requests  # outermost: Django reads the mark off the routed view
@extend_schema(
    operation_id="healthz",
    tags=["health"],
    summary="Readiness: the database, the broker and the outbox",
    auth=[],
    responses={200: HealthSerializer, 503: HealthSerializer},
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def healthz(request):
    """Readiness: 200 when every dependency answers, else 503 naming what failed. Answers within
    ``HEALTH_CHECK_TIMEOUT_SECONDS`` (plus a little) whatever a dependency does: each check runs in a
    thread of its own, with its own connection and timeouts."""
    checks = run_checks(CHECKS, timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS)
    healthy = all(value in ("ok", "eager") for value in checks.values())
    return Response({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)


@transaction.non_atomic_requests  # outermost: Django reads the mark off the routed view
@extend_schema(
    operation_id="livez",
    tags=["health"],
    summary="Liveness: the process serves requests",
    auth=[],
    responses={200: LivenessSerializer},
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def livez(request):
    """Liveness: 200 as long as this process answers. Checks nothing external, so an outage of the
    database or the broker never gets a healthy process restarted (``/healthz`` reports those)."""
    return Response({"status": "ok"})
