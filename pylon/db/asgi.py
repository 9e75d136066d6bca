"""Closing the database connections of a finished ASGI request.

Under ASGI, Django runs each request's synchronous code in a thread of its own (asgiref's
``ThreadSensitiveContext``), discarded when the request ends. ``CONN_MAX_AGE`` keeps a connection
open for the next request *of the same thread*, which never comes: the connection stayed open until
the garbage collector found the thread's objects, so a busy server could run PostgreSQL out of
connections. When an ASGI request finishes, its thread's connections are closed (WSGI, the test
client and Celery keep their persistent connections: their threads live on).
"""

from __future__ import annotations

from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished
from django.db import connections


def close_connections_of_finished_request(sender, **kwargs) -> None:
    if isinstance(sender, type) and issubclass(sender, ASGIHandler):
        connections.close_all()


def connect() -> None:
    request_finished.connect(close_connections_of_finished_request, dispatch_uid="pylon.db.asgi")
