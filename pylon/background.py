"""The seam between code that starts background work and the Celery tasks that do it.

Services never enqueue tasks: they record outbox events in their transaction (``outbox``), and the
outbox relay publishes them after the commit, bounded (``outbox.relay``). Code that runs in a worker
(outbox handlers, tasks fanning out) finds a task here by name, so nothing imports a tasks module it
would form a cycle with: dependencies point one way (tasks → services → this seam).
"""

from __future__ import annotations

from celery import Task

from pylon.celery import app


def task_named(name: str) -> Task:
    """The registered task ``name`` (``app.module.function``), loading the apps' tasks modules once
    if they are not yet (a web process imports them only on first use)."""
    if name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[name]
