"""The seam between services and Celery tasks. Tasks call services; services never import tasks:
they name the task to run after their transaction commits, and this module finds it in the Celery
app's registry. So dependencies point one way (tasks → services → this seam), and every enqueue of
background work passes one place (where a bounded or outbox-backed publish can go).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.db import transaction

from pylon.celery import app

logger = logging.getLogger(__name__)


def task_named(name: str) -> Task:
    """The registered task ``name`` (``app.module.function``), loading the apps' tasks modules once
    if they are not yet (a web process imports them only on first use)."""
    if name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[name]


def enqueue_on_commit(name: str, /, **kwargs: Any) -> None:
    """Queue task ``name`` with ``kwargs`` once the current transaction commits (at once outside one).

    A task must never see rows that are not committed, nor run for a transaction that rolled back.
    ``robust``: if the broker is down the enqueue is logged and dropped, the request still succeeds,
    and the periodic sweeps catch up.
    """
    transaction.on_commit(lambda: task_named(name).delay(**kwargs), robust=True)
