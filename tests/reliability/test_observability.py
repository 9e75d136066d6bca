"""Operators can see it: /metrics (protected), request metrics by route, Celery task metrics,
queue depth, data age; request ids in responses, logs and tasks; JSON log lines."""

import json
import logging
import time
from datetime import timedelta

import pytest
from celery import shared_task
from django.utils import timezone
from prometheus_client import REGISTRY

from pylon.idempotency.tasks import purge_idempotency_keys
from pylon.observability import celery as task_signals
from pylon.observability import context
from pylon.observability.logging import ContextFilter, JsonFormatter
from tests.reliability.faults import frozen_server
from tests.zones.factories import GridZoneFactory

pytestmark = pytest.mark.django_db


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client, **extra) -> str:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


class TestAccess:
    def test_loopback_may_scrape_by_default(self, client):
        assert "pylon_http_requests_total" in scrape(client)

    def test_another_network_is_refused_without_the_token(self, client):
        response = client.get("/metrics", REMOTE_ADDR="203.0.113.5")
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"

    def test_a_forged_forwarded_address_is_not_a_loopback_one(self, client):
        response = client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="127.0.0.1")
        assert response.status_code == 403

    def test_the_token_opens_it_from_anywhere(self, client, settings):
        settings.METRICS_TOKEN = "s3cret-scrape-token"
        assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
        scrape(client, REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")


def test_requests_are_counted_by_route_not_by_raw_path(make_client, user, client):
    zone = GridZoneFactory()
    labels = {"route": "/api/v1/zones/{pk}/", "method": "GET"}
    before = sample("pylon_http_requests_total", **labels, status="200")
    timed = sample("pylon_http_request_duration_seconds_count", **labels)
    api = make_client(user)
    assert api.get(f"/api/v1/zones/{zone.id}/").status_code == 200
    assert api.get(f"/api/v1/zones/{GridZoneFactory().id}/").status_code == 200
    assert sample("pylon_http_requests_total", **labels, status="200") == before + 2
    assert sample("pylon_http_request_duration_seconds_count", **labels) == timed + 2
    assert f"/api/v1/zones/{zone.id}/" not in scrape(client)
    unmatched = sample("pylon_http_requests_total", route="<unmatched>", method="GET", status="404")
    api.get("/no/such/page/")
    assert sample("pylon_http_requests_total", route="<unmatched>", method="GET", status="404") == unmatched + 1


@shared_task(name="tests.flaky_task")
def _failing_task():
    raise ValueError("broken on purpose")


def test_tasks_are_counted_and_timed_by_name_and_outcome():
    name = "pylon.idempotency.tasks.purge_idempotency_keys"
    before = sample("pylon_celery_tasks_total", task=name, outcome="success")
    timed = sample("pylon_celery_task_duration_seconds_count", task=name, outcome="success")
    purge_idempotency_keys.delay()
    assert sample("pylon_celery_tasks_total", task=name, outcome="success") == before + 1
    assert sample("pylon_celery_task_duration_seconds_count", task=name, outcome="success") == timed + 1
    failed = sample("pylon_celery_tasks_total", task="tests.flaky_task", outcome="failure")
    with pytest.raises(ValueError):
        _failing_task.delay()
    assert sample("pylon_celery_tasks_total", task="tests.flaky_task", outcome="failure") == failed + 1


def test_each_providers_data_age_and_stale_zones(client):
    now = timezone.now()
    GridZoneFactory(carbon_provider="NESO", figures_updated_at=now - timedelta(hours=2))
    GridZoneFactory(carbon_provider="NESO", figures_updated_at=now - timedelta(minutes=10))
    GridZoneFactory(carbon_provider="FILE", figures_updated_at=now - timedelta(minutes=5))
    text = scrape(client)
    assert 'pylon_carbon_stale_zones{provider="NESO"} 1.0' in text
    assert 'pylon_carbon_stale_zones{provider="FILE"} 0.0' in text
    age = sample("pylon_carbon_data_age_seconds", provider="NESO")
    assert 7190 < age < 7300


def test_queue_depth_is_read_from_the_redis_broker(client, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs the Redis broker (REDIS_URL)")
    import redis

    queue = "pylon-test-metrics-queue"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    settings.CELERY_METRICS_QUEUES = [queue]
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete(queue)
    broker.rpush(queue, "a", "b", "c")
    try:
        assert f'pylon_celery_queue_length{{queue="{queue}"}} 3.0' in scrape(client)
    finally:
        broker.delete(queue)


def test_a_frozen_broker_fails_its_source_not_the_scrape(client, settings):
    failures = sample("pylon_metrics_source_failures_total", source="celery_queues")
    with frozen_server() as port:
        settings.CELERY_TASK_ALWAYS_EAGER = False
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
        started = time.monotonic()
        text = scrape(client)
        assert time.monotonic() - started < 3.0
    assert "pylon_http_requests_total" in text
    assert f'pylon_metrics_source_failures_total{{source="celery_queues"}} {failures + 1}' in text


class TestRequestIds:
    def test_a_request_gets_an_id_on_the_response_and_its_log_line(self, client, caplog):
        with caplog.at_level(logging.INFO, logger="pylon.request"):
            response = client.get("/api/v1/zones/")
        request_id = response["X-Request-ID"]
        assert len(request_id) == 32
        (line,) = [r for r in caplog.records if r.name == "pylon.request"]
        assert line.status == 401 and line.route == "/api/v1/zones/" and line.method == "GET"
        assert line.request_id == request_id
        assert line.getMessage().startswith("GET /api/v1/zones/ 401")

    def test_the_callers_id_is_kept_when_it_is_tame(self, client):
        assert client.get("/api/v1/zones/", HTTP_X_REQUEST_ID="lb-7f3a:42")["X-Request-ID"] == "lb-7f3a:42"

    @pytest.mark.parametrize("forged", ["x" * 129, "two words", "line\nbreak", "é"])
    def test_an_untame_id_is_replaced(self, client, forged):
        returned = client.get("/api/v1/zones/", HTTP_X_REQUEST_ID=forged)["X-Request-ID"]
        assert returned != forged and len(returned) == 32

    def test_the_id_is_stamped_on_every_record_during_the_request(self):
        token = context.request_id.set("req-1")
        try:
            record = logging.makeLogRecord({"msg": "hello"})
        finally:
            context.request_id.reset(token)
        assert record.request_id == "req-1"

    def test_the_id_travels_with_the_tasks_the_request_publishes(self):
        headers = {}
        token = context.request_id.set("req-2")
        try:
            task_signals._stamp_request_id(headers=headers)
        finally:
            context.request_id.reset(token)
        assert headers == {task_signals.REQUEST_ID_HEADER: "req-2"}

    def test_a_task_logs_with_the_request_id_it_carries(self, caplog):
        with caplog.at_level(logging.INFO, logger="pylon.observability.celery"):
            purge_idempotency_keys.apply(headers={task_signals.REQUEST_ID_HEADER: "req-3"})
        records = [r for r in caplog.records if r.name == "pylon.observability.celery"]
        assert len(records) == 2  # started, finished
        assert {(r.request_id, r.task_name) for r in records} == {("req-3", purge_idempotency_keys.name)}
        assert context.request_id.get() is None  # nothing leaks into the next task


def test_json_lines_carry_the_context_and_the_extras():
    record = logging.LogRecord("pylon.request", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.status = 200
    token = context.request_id.set("req-4")
    try:
        ContextFilter().filter(record)
    finally:
        context.request_id.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /x"
    assert line["request_id"] == "req-4"
    assert line["status"] == 200
    assert line["level"] == "INFO" and line["logger"] == "pylon.request"
    assert "T" in line["time"]


def test_the_outbox_backlog_is_reported_once_the_outbox_exists(client):
    from django.apps import apps

    if not apps.is_installed("outbox"):
        pytest.skip("the outbox app (issue 10, part A) is not installed yet: its source reports nothing")
    text = scrape(client)
    assert "pylon_outbox_pending_events " in text
    assert "pylon_outbox_oldest_pending_age_seconds " in text
    assert 'pylon_metrics_source_failures_total{source="outbox"} 0.0' in text


def test_a_worker_serves_its_task_metrics_on_its_own_port():
    import urllib.request

    server = task_signals.serve_metrics(port=0, addr="127.0.0.1")
    try:
        purge_idempotency_keys.delay()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/", timeout=3) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'pylon_celery_tasks_total{outcome="success",task="pylon.idempotency.tasks.purge_idempotency_keys"}' in text
