"""Faults injected on loopback: a frozen broker (accepts, never answers), a stopped broker (a closed
port), an unreachable database. Requests answer promptly, nothing is lost, nothing is done twice."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test import Client

from outbox import relay
from outbox.models import EventType, OutboxEvent
from pylon import health, views
from pylon.celery import app
from scheduling.models import Recommendation, SchedulingOutcome
from tests.accounts.factories import UserFactory
from tests.reliability.faults import broker_at, closed_port, frozen_server
from tests.scheduling.factories import GridZoneFactory, set_forecast

#: What "promptly" means here: the issue's bound for every endpoint under a broker fault. Unbounded,
#: a frozen broker held a submission until it resumed (51 s).
PROMPT_SECONDS = 3.0


@contextmanager
def frozen_broker():
    with frozen_server() as port, broker_at(f"redis://127.0.0.1:{port}/0"):
        yield


@contextmanager
def stopped_broker():
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"):
        yield


BROKER_FAULTS = {"frozen": frozen_broker, "stopped": stopped_broker}


@pytest.fixture(autouse=True, scope="module")
def warm_process():
    """The bound is a running server's: import what a first request and a first publish import (the
    URL modules, every app's tasks) before the clock starts, as a served process already has."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every app's URL and view modules)
    app.loader.import_default_modules()


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fault", sorted(BROKER_FAULTS))
def test_submissions_answer_promptly_with_the_broker_down_and_are_published_later(fault, make_client, settings):
    zone = GridZoneFactory(zone_name="Faulty")
    set_forecast(zone, 150.0)
    client = make_client(UserFactory())
    body = {"workload_name": "During the outage", "host_dc": str(zone.pk), "estimated_energy_kwh": "5"}

    with BROKER_FAULTS[fault]():
        answers = [_timed(lambda: client.post("/api/v1/workloads/", body, format="json")) for _ in range(3)]
        zones, zones_took = _timed(lambda: client.get("/api/v1/zones/"))

    assert [response.status_code for response, _ in answers] == [201, 201, 201]
    assert max(took for _, took in answers) < PROMPT_SECONDS
    assert zones.status_code == 200 and zones_took < PROMPT_SECONDS
    ids = [response.json()["id"] for response, _ in answers]
    events = OutboxEvent.objects.filter(type=EventType.WORKLOAD_SUBMITTED).order_by("id")
    assert [str(e.subject_id) for e in events] == ids
    # Committed, not published: the first request tried once; the others left it to the relay.
    assert [(e.published_at, e.publish_attempts) for e in events] == [(None, 1), (None, 0), (None, 0)]
    assert not Recommendation.objects.exists()

    # The broker is back (eager here: the suite's own broker): the relay publishes everything once.
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    assert relay.publish_pending() == 3
    assert relay.publish_pending() == 0
    # Each workload was computed, once.
    assert sorted(str(pk) for pk in SchedulingOutcome.objects.values_list("workload_id", flat=True)) == sorted(ids)
    assert not OutboxEvent.objects.filter(handled_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not __import__("django.conf").conf.settings.REDIS_URL, reason="needs the Redis broker")
def test_the_relay_publishes_each_pending_event_to_the_real_broker_exactly_once(make_client, settings):
    """After an outage the drain puts the event on the real queue (a chunk of one), and a second
    drain nothing: a worker will do the work once."""
    import redis
    from kombu.utils.json import loads

    zone = GridZoneFactory(zone_name="Queued")
    client = make_client(UserFactory())
    with frozen_broker():
        response = client.post(
            "/api/v1/workloads/", {"workload_name": "Queued", "host_dc": str(zone.pk)}, format="json"
        )
    assert response.status_code == 201
    queue = redis.Redis.from_url(settings.REDIS_URL)
    app.control.purge()
    try:
        with broker_at(settings.REDIS_URL):
            settings.OUTBOX_RELAY_GRACE_SECONDS = 0
            assert relay.publish_pending() == 1
            assert relay.publish_pending() == 0
        messages = [loads(raw) for raw in queue.lrange("celery", 0, -1)]
        event = OutboxEvent.objects.get(type=EventType.WORKLOAD_SUBMITTED)
        assert [(m["headers"]["task"], m["headers"]["argsrepr"]) for m in messages] == [
            ("outbox.tasks.outbox_dispatch_batch", f"[[{event.pk}]]")
        ]
    finally:
        app.control.purge()


@pytest.mark.parametrize("fault", sorted(BROKER_FAULTS))
def test_enqueue_on_commit_gives_up_promptly_on_a_broker_fault(fault, monkeypatch):
    """Work with its own catch-up (an email, a webhook delivery) is queued by one bounded attempt."""
    from pylon import background

    warnings = []
    monkeypatch.setattr(background.logger, "warning", lambda message, *args: warnings.append(message % args))
    with BROKER_FAULTS[fault]():
        _, elapsed = _timed(lambda: background.enqueue_now("outbox.tasks.outbox_relay"))
    assert elapsed < PROMPT_SECONDS
    assert len(warnings) == 1 and warnings[0].startswith("could not queue outbox.tasks.outbox_relay")


# -- /healthz and /livez ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("fault", sorted(BROKER_FAULTS))
def test_healthz_answers_within_3_s_naming_the_broker(fault):
    with BROKER_FAULTS[fault]():
        response, took = _timed(lambda: Client().get("/healthz"))
    assert took < PROMPT_SECONDS
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["broker"] in ({"frozen": "timeout", "stopped": "error"}[fault], "error")
    assert body["checks"]["database"] == "ok"


def test_a_check_that_hangs_is_reported_as_a_timeout_without_holding_the_answer():
    def hangs():
        time.sleep(10)

    results, took = _timed(lambda: health.run_checks({"hangs": hangs, "fine": lambda: "ok"}, timeout=0.3))
    assert results == {"hangs": "timeout", "fine": "ok"}
    assert took < 1.0


@pytest.mark.django_db
def test_the_outbox_check_fails_when_an_event_waits_too_long(settings, organization, monkeypatch):
    OutboxEvent.objects.create(type=EventType.POLICY_CHANGED, organization=organization)
    # In /healthz the check runs in its own thread and connection; here it shares the test's
    # transaction, which it must not close.
    monkeypatch.setattr(connection, "close", lambda: None)
    assert health._check_outbox() == "ok"
    settings.OUTBOX_BACKLOG_ALERT_SECONDS = 0
    with pytest.raises(RuntimeError, match="1 event"):
        health._check_outbox()


def test_livez_checks_nothing_external():
    with frozen_broker():
        response, took = _timed(lambda: Client().get("/livez"))
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert took < 1.0


# -- the database unavailable --------------------------------------------------------------------


def _refuse_to_connect(tmp_path):
    """Open a real connection to where no database is: a closed loopback port (PostgreSQL), a
    file in a missing directory (SQLite). Raises Django's OperationalError, as an outage does."""
    with connection.wrap_database_errors:
        if connection.vendor == "postgresql":
            import psycopg

            psycopg.connect(host="127.0.0.1", port=closed_port(), dbname="pylon", user="pylon", connect_timeout=2)
        else:
            import sqlite3

            sqlite3.connect(f"file:{tmp_path}/missing/pylon.sqlite3?mode=rw", uri=True)


@pytest.fixture
def database_down(db, tmp_path):
    """``with database_down():`` every use of the default connection meets an unreachable database."""
    from unittest import mock

    @contextmanager
    def down():
        with mock.patch.object(connection, "ensure_connection", lambda: _refuse_to_connect(tmp_path)):
            yield

    return down


def _assert_503(response):
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert json.loads(response.content) == {
        "code": "service_unavailable",
        "message": "The database is unavailable at the moment; retry shortly.",
        "fields": {},
    }


def test_an_api_request_gets_503_with_retry_after(user, make_client, database_down):
    client = make_client(user)
    client.raise_request_exception = False
    with database_down():
        _assert_503(client.get("/api/v1/workloads/"))
        _assert_503(client.post("/api/v1/auth/token/", {"email": "a@b.example", "password": "x"}, format="json"))


def test_the_admin_gets_a_plain_503(database_down):
    with database_down():
        response = Client(raise_request_exception=False).get("/admin/login/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/plain")


def test_the_drf_handler_maps_a_refused_connection_to_503(db, tmp_path):
    from django.db import OperationalError

    from pylon.api.exceptions import exception_handler

    with pytest.raises(OperationalError) as caught:
        _refuse_to_connect(tmp_path)
    response = exception_handler(caught.value, {})
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.data["code"] == "service_unavailable"


def test_django_s_500_handler_maps_a_refused_connection_to_503(db, rf, tmp_path):
    from django.db import OperationalError

    request = rf.get("/api/v1/zones/")
    try:
        _refuse_to_connect(tmp_path)
    except OperationalError:
        response = views.server_error(request)
    _assert_503(response)


def test_a_database_bug_is_still_a_500_not_a_503(db):
    from django.db import OperationalError, transaction

    from pylon.db.outage import database_unavailable

    # ProgrammingError on PostgreSQL, OperationalError on SQLite: a bug either way.
    with pytest.raises(Exception) as caught, transaction.atomic(), connection.cursor() as cursor:  # noqa: PT011
        cursor.execute("SELECT * FROM no_such_table_here")
    assert not database_unavailable(caught.value)
    assert database_unavailable(OperationalError("database is locked"))
