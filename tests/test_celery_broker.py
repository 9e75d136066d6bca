"""The background path for real: a submission's task travels through the Redis broker to a Celery
worker, which writes the recommendations. Everywhere else the suite runs tasks eagerly."""

import logging
import time

import pytest
from django.conf import settings
from rest_framework_simplejwt.tokens import RefreshToken

from pylon.celery import app
from scheduling.models import Recommendation
from tests.accounts.factories import UserFactory
from tests.scheduling.factories import GridZoneFactory, set_forecast

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs the Redis broker (REDIS_URL)"),
]


@pytest.fixture
def worker():
    from celery.contrib.testing.worker import start_worker

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    app.control.purge()
    try:
        with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.control.purge()
        app.conf.task_always_eager = eager


def test_a_submission_is_recommended_by_a_worker_through_redis(worker, client, caplog):
    caplog.set_level(logging.INFO, logger="pylon.observability.celery")
    zone = GridZoneFactory(zone_name="Brokered")
    set_forecast(zone, 120.0)
    user = UserFactory()
    access = RefreshToken.for_user(user).access_token
    response = client.post(
        "/api/v1/workloads/",
        {"workload_name": "Through the broker", "host_dc": str(zone.id), "estimated_energy_kwh": "5"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {access}",
        HTTP_X_REQUEST_ID="submit-through-broker-1",
    )
    assert response.status_code == 201
    workload_id = response.json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Recommendation.objects.filter(workload_id=workload_id).exists():
        time.sleep(0.2)
    recommendation = Recommendation.objects.get(workload_id=workload_id, rank=1)
    assert recommendation.zone == zone
    # The worker's log lines of the task carry the id of the request that triggered it.
    task_lines = [r for r in caplog.records if getattr(r, "task_name", None) == "scheduling.tasks.recommend_workloads"]
    assert task_lines
    assert {r.request_id for r in task_lines} == {"submit-through-broker-1"}
