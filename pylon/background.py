"""The seam between code that starts background work and the Celery tasks that do it.

Work that must not be lost is recorded as an outbox event in the writer's transaction (``outbox``):
the relay publishes it after the commit, bounded, and again later if the broker was away. Code that
runs in a worker (outbox handlers, tasks fanning out) finds a task here by name, so nothing imports a
tasks module it would form a cycle with: dependencies point one way (tasks → services → this seam).

``enqueue_on_commit`` remains for work that has its own catch-up (a sweep, a retry schedule) and
so needs no event: one bounded publish after the commit, never holding the request for long.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import Task
from django.conf import settings
from django.db import transaction

from pylon.celery import app

logger = logging.getLogger(__name__)


def task_named(name: str) -> Task:
    """The registered task ``name`` (``app.module.function``), loading the apps' tasks modules once
    if they are not yet (a web process imports them only on first use)."""
    if name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[name]


def bounded_broker_connection(*, timeout: float):
    """A broker connection of its own whose connect, every command and the reconnect loop all give
    up after ``timeout`` seconds (a frozen server that accepts and never answers included)."""
    options = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry_on_timeout": False,
        "max_retries": 0,
        "connect_retries_timeout": timeout,
    }
    return app.connection_for_write(connect_timeout=timeout, transport_options=options)


def enqueue_now(name: str, /, **kwargs: Any) -> None:
    """One bounded attempt to queue task ``name``: in-process when eager, else over a connection that
    gives up after ``OUTBOX_PUBLISH_TIMEOUT_SECONDS``. A broker failure is logged, never raised."""
    enqueue_many_now(name, [kwargs])


def enqueue_many_now(name: str, calls: Sequence[dict[str, Any]], /) -> None:
    """``enqueue_now`` for many calls of one task (each ``kwargs`` in ``calls``), all over one
    bounded connection: a batch costs one connect, not one each. Stops at the first failure."""
    if not calls:
        return
    task = task_named(name)
    if app.conf.task_always_eager:
        for kwargs in calls:
            task.delay(**kwargs)
        return
    timeout = float(settings.OUTBOX_PUBLISH_TIMEOUT_SECONDS)
    try:
        with bounded_broker_connection(timeout=timeout) as conn:
            for kwargs in calls:
                task.apply_async(kwargs=kwargs, connection=conn, retry=False)
    except Exception as exc:  # the broker is down or frozen: the caller's catch-up runs it later
        logger.warning("could not queue %s (%s); left to its catch-up", name, exc)


def enqueue_on_commit(name: str, /, **kwargs: Any) -> None:
    """Queue task ``name`` with ``kwargs`` once the current transaction commits (at once outside one),
    bounded (``enqueue_now``). A task must never see rows that are not committed, nor run for a
    transaction that rolled back. Only for work with its own catch-up: what must not be lost is an
    outbox event."""
    enqueue_many_on_commit(name, [kwargs])


def enqueue_many_on_commit(name: str, calls: Sequence[dict[str, Any]], /) -> None:
    """``enqueue_on_commit`` for many calls of one task, over one connection (``enqueue_many_now``)."""
    calls = list(calls)
    if calls:
        transaction.on_commit(lambda: enqueue_many_now(name, calls), robust=True)
