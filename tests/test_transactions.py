"""Every write runs in one transaction; a read runs in none (the read path's BEGIN and COMMIT are
round trips it does not need). Walked over every route, so a new endpoint cannot skip it."""

import pytest
from django.db import connection
from django.urls import get_resolver
from rest_framework.exceptions import APIException
from rest_framework.permissions import SAFE_METHODS
from rest_framework.test import APIClient
from rest_framework.views import APIView

from pylon.api.viewsets import WritesInTransaction
from tests.test_endpoints import ENDPOINTS, _walk


class _Seen(APIException):
    status_code = 418


@pytest.fixture
def transactions_seen(monkeypatch):
    """(method, path, inside a transaction?) for each request, taken as the view starts its work
    (``APIView.initial``: before authentication); the request stops there, changing nothing."""
    seen = []

    def initial(self, request, *args, **kwargs):
        seen.append((request.method, request.path, connection.in_atomic_block))
        raise _Seen()

    monkeypatch.setattr(APIView, "initial", initial)
    return seen


# Outside the test's own transaction: ``in_atomic_block`` is then the request's alone.
@pytest.mark.django_db(transaction=True)
def test_every_unsafe_route_runs_in_a_transaction_and_every_read_in_none(transactions_seen):
    client = APIClient()
    for method, path, _ in ENDPOINTS:
        response = client.generic(method, path, data="{}", content_type="application/json")
        assert response.status_code == 418, f"{method} {path} answered {response.status_code}"
    client.options(ENDPOINTS[0][1])
    client.head("/api/v1/workloads/")
    assert len(transactions_seen) == len(ENDPOINTS) + 2
    for method, path, in_transaction in transactions_seen:
        expected = method not in SAFE_METHODS
        assert in_transaction is expected, f"{method} {path}: in a transaction: {in_transaction}"


@pytest.mark.django_db(transaction=True)
def test_the_list_reads_outside_a_transaction(operator, make_client, django_assert_max_num_queries):
    """End to end: a GET of the list leaves the connection in autocommit throughout."""
    states = []
    with connection.execute_wrapper(lambda execute, *args: states.append(connection.in_atomic_block) or execute(*args)):
        response = make_client(operator).get("/api/v1/workloads/")
    assert response.status_code == 200
    assert states and not any(states)


def test_views_outside_the_bases_keep_atomic_requests(settings):
    """The admin, simplejwt's token views and the plain Django views are not marked non-atomic, so
    Django's handler wraps them whole in ``ATOMIC_REQUESTS``; only the bases that open the write's
    transaction themselves opt out, and the health probes, which must answer (503) when the database
    cannot even open a transaction."""
    assert settings.DATABASES["default"]["ATOMIC_REQUESTS"] is True
    opted_out = []
    for route, callback in _walk(get_resolver().url_patterns):
        if route in ("healthz", "livez"):
            assert getattr(callback, "_non_atomic_requests", None), route
            continue
        if getattr(callback, "_non_atomic_requests", None):
            opted_out.append(route)
            assert issubclass(getattr(callback, "cls", object), WritesInTransaction), route
    assert any(route.startswith("api/v1/workloads") for route in opted_out)
    assert any(route.startswith("admin/") for route, _ in _walk(get_resolver().url_patterns))
