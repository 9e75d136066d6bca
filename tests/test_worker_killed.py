"""A real Celery worker, started by this test on the suite's Redis, is killed (SIGKILL, by its pid)
in the middle of a task. Another worker runs the task again once its message's visibility timeout
has passed, and the rows it writes are not duplicated.

To be sure the worker dies mid-task, the test holds a lock on the workload's row, so the task
blocks on its write; then it kills the worker, releases the lock and starts a second worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection

from outbox.models import EventType, OutboxEvent
from pylon.celery import app
from scheduling.models import Recommendation, SchedulingOutcome
from tests.accounts.factories import UserFactory
from tests.scheduling.factories import GridZoneFactory, PolicyFactory, set_forecast
from workloads import services as workload_services
from workloads.models import WorkloadEvent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs the Redis broker (REDIS_URL)"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="holds a row lock (PostgreSQL)"),
]

VISIBILITY_SECONDS = 2


def _database_url() -> str:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_worker(log_path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        # The test's scale: a short visibility timeout (above the hard time limit, as in production)
        # and a worker that looks for abandoned messages every second.
        "CELERY_TASK_SOFT_TIME_LIMIT": "0",
        "CELERY_TASK_TIME_LIMIT": "1",
        "CELERY_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_SECONDS),
        "CELERY_UNACKED_RESTORE_INTERVAL_SECONDS": "1",
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    command = [sys.executable, "-m", "celery", "-A", "pylon", "worker", "--pool=solo", "--loglevel=INFO"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"fault-{uuid.uuid4().hex[:8]}@%h"]
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log = log
    return process


def _stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        os.kill(process.pid, sig)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(5)
    process.log.close()


def _wait_for(condition, *, seconds: float, what: str, logs=()) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    details = "\n".join(f"--- {path}\n{path.read_text()[-3000:]}" for path in logs)
    pytest.fail(f"gave up waiting for {what}\n{details}")


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_a_task_whose_worker_is_killed_runs_again_without_duplicating_rows(tmp_path):
    import psycopg
    import redis

    zones = [GridZoneFactory(zone_name=f"Zone {k}") for k in range(3)]
    for zone, value in zip(zones, (90.0, 150.0, 300.0), strict=True):
        set_forecast(zone, value)
    owner = UserFactory()
    PolicyFactory(organization=owner.organization, auto_assign=True)
    broker = redis.Redis.from_url(settings.REDIS_URL)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    app.control.purge()
    broker.delete("unacked", "unacked_index")
    first = second = None
    try:
        workload = workload_services.workload_create(
            user=owner,
            data={"workload_name": "Killed mid-run", "host_dc": zones[2], "estimated_energy_kwh": Decimal(8)},
        )
        event = OutboxEvent.objects.get(type=EventType.WORKLOAD_SUBMITTED, subject_id=workload.pk)
        assert event.published_at is not None  # the message waits on the real queue

        db = connection.settings_dict
        with psycopg.connect(
            host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
        ) as blocker:
            blocker.execute("SELECT 1 FROM workloads_computeworkload WHERE id = %s FOR UPDATE", [workload.pk])
            first = _start_worker(tmp_path / "first.log")
            _wait_for(
                _waiting_on_a_lock,
                seconds=90,
                what="the first worker to reach the write",
                logs=[tmp_path / "first.log"],
            )
            os.kill(first.pid, signal.SIGKILL)  # the whole worker: it runs the task in its own process (solo pool)
            first.wait(10)
            assert broker.hlen("unacked") == 1  # delivered, never acknowledged: stranded until redelivered
            blocker.rollback()

        second = _start_worker(tmp_path / "second.log")
        _wait_for(
            lambda: WorkloadEvent.objects.filter(workload=workload, action="assign").exists(),
            seconds=90,
            what="the second worker to run the redelivered task",
            logs=[tmp_path / "first.log", tmp_path / "second.log"],
        )
    finally:
        for process in (first, second):
            if process is not None:
                _stop(process)
        app.control.purge()
        app.conf.task_always_eager = eager

    ranks = list(Recommendation.objects.filter(workload=workload).order_by("rank").values_list("rank", flat=True))
    assert ranks == [1, 2, 3]
    assert SchedulingOutcome.objects.filter(workload=workload).count() == 1
    assert list(WorkloadEvent.objects.filter(workload=workload).values_list("action", flat=True).order_by("id")) == [
        "submit",
        "assign",
    ]
    assert OutboxEvent.objects.filter(subject_id=workload.pk, type=EventType.WORKLOAD_ASSIGNED).count() == 1
    assert OutboxEvent.objects.filter(pk=event.pk, handled_at__isnull=False).exists()
    assert broker.hlen("unacked") == 0
