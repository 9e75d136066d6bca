"""Celery signal receivers: task metrics by name and outcome, and the request id carried from the
request that enqueued a task into the task's own log lines."""

from __future__ import annotations

import logging
import time

from celery import signals
from celery.exceptions import Retry
from prometheus_client import start_http_server

from pylon.observability import context
from pylon.observability.collectors import scrape_registry
from pylon.observability.metrics import celery_task_duration, celery_tasks

logger = logging.getLogger(__name__)

#: The message header that carries the request id to the worker.
REQUEST_ID_HEADER = "pylon_request_id"

_started: dict[str, tuple[float, list]] = {}


@signals.before_task_publish.connect(weak=False)
def _stamp_request_id(headers=None, **kwargs):
    request_id = context.request_id.get()
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


@signals.task_prerun.connect(weak=False)
def _task_started(task_id=None, task=None, **kwargs):
    tokens = [context.task_name.set(task.name), context.task_id.set(task_id)]
    carried = getattr(task.request, REQUEST_ID_HEADER, None) or (task.request.headers or {}).get(REQUEST_ID_HEADER)
    if carried:  # an eager task runs in the request's own context and keeps its id as it is
        tokens.append(context.request_id.set(context.accept_request_id(carried)))
    _started[task_id] = (time.perf_counter(), tokens)
    logger.info("task %s started", task.name)


def _outcome(state: str | None, retval) -> str:
    if state:
        return state.lower()  # a worker says: success, failure, retry, ...
    # An eager run that raised (CELERY_TASK_EAGER_PROPAGATES) passes no state: it failed, or retried.
    return "retry" if isinstance(retval, Retry) else "failure"


@signals.task_postrun.connect(weak=False)
def _task_finished(task_id=None, task=None, state=None, retval=None, **kwargs):
    started, tokens = _started.pop(task_id, (None, []))
    outcome = _outcome(state, retval)
    if started is not None:
        elapsed = time.perf_counter() - started
        celery_task_duration.labels(task=task.name, outcome=outcome).observe(elapsed)
        logger.info("task %s %s in %.3fs", task.name, outcome, elapsed, extra={"outcome": outcome})
    celery_tasks.labels(task=task.name, outcome=outcome).inc()
    for token in reversed(tokens):
        token.var.reset(token)


@signals.worker_init.connect(weak=False)
def _serve_worker_metrics(**kwargs):
    """A worker on another host than the web processes serves its own task metrics (the main process
    sums its prefork children through ``PROMETHEUS_MULTIPROC_DIR``) when given a port."""
    from django.conf import settings

    if settings.CELERY_WORKER_METRICS_PORT:
        serve_metrics(port=settings.CELERY_WORKER_METRICS_PORT, addr=settings.CELERY_WORKER_METRICS_ADDR)


def serve_metrics(*, port: int, addr: str):
    """Start prometheus-client's HTTP exporter in a thread; returns the server (its port: ``server_port``)."""
    server, _ = start_http_server(port, addr=addr, registry=scrape_registry())
    logger.info("worker metrics served on %s:%d", addr, server.server_port)
    return server


@signals.task_revoked.connect(weak=False)
def _task_revoked(request=None, **kwargs):
    name = getattr(request, "task", None) or getattr(request, "name", None) or "unknown"
    celery_tasks.labels(task=name, outcome="revoked").inc()
