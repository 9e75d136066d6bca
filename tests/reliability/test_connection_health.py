"""The persistent connection's health check (``pylon.db.postgresql``): a quiet, idle connection is
used as it is, with no ``SELECT 1`` round trip; one the server has closed is found out and replaced
before a request runs on it."""

import time

import psycopg
import pytest
from django.db import connection

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's connection health check"),
    pytest.mark.django_db(transaction=True),
]


def _probes(monkeypatch) -> list:
    """Each time the backend falls back to Django's own ``SELECT 1`` check."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    calls = []
    original = DatabaseWrapper.is_usable
    monkeypatch.setattr(DatabaseWrapper, "is_usable", lambda self: calls.append(1) or original(self))
    return calls


def test_a_quiet_idle_connection_is_usable_without_a_round_trip(monkeypatch):
    connection.ensure_connection()
    probes = _probes(monkeypatch)
    assert connection.is_usable()
    assert probes == []


def test_a_connection_the_server_closed_is_replaced_before_the_next_request(monkeypatch, operator, make_client):
    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    settings = connection.get_connection_params()
    with psycopg.connect(**{**settings, "autocommit": True}) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:  # the FATAL message is on its way
        time.sleep(0.05)
    assert not connection.is_usable()
    # A request with persistent connections on: the health check drops the dead one and reconnects.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    assert connection.connection is None
    assert make_client(operator).get("/api/v1/workloads/").status_code == 200
    assert connection.connection.info.backend_pid != backend
