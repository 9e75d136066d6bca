"""Stand-ins for failing dependencies, on loopback only: a server that accepts connections and
never answers (a frozen Redis or PostgreSQL, SIGSTOP-like), and a port nobody listens on (stopped)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts every connection, reads nothing and never answers.
    Yields its port; closes everything it accepted on exit."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        listener.close()
        for conn in accepted:
            conn.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connecting is refused at once."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


@contextmanager
def broker_at(url: str) -> Iterator[None]:
    """Celery publishes to ``url``, not eagerly, for the duration (the suite runs tasks eagerly)."""
    from pylon.celery import app

    before = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager, app.conf.broker_url = False, url
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.broker_url = before
