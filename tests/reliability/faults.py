"""Loopback stand-ins for a dependency that fails: frozen (accepts, never answers — like a Redis
under SIGSTOP, whose kernel still completes the handshake) or stopped (nothing listens)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def frozen_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte; yields its port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            held.append(conn)  # kept open and unread: the client waits for an answer that never comes

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released: connecting is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def broker_at(url: str) -> Iterator[None]:
    """Celery publishes to ``url``, not eagerly, for the duration (the suite runs tasks eagerly)."""
    from pylon.celery import app

    before = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager, app.conf.broker_url = False, url
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.broker_url = before


def _redis_cache_at(settings, url: str) -> None:
    from pylon.cache import redis_cache

    settings.CACHES = {
        "default": redis_cache(
            url,
            key_prefix="pylon-fault-test",
            socket_timeout=settings.CACHE_SOCKET_TIMEOUT_SECONDS,
            retry_after=settings.CACHE_RETRY_AFTER_SECONDS,
        )
    }


def _reset_breaker() -> None:
    from pylon.cache import _Breaker

    _Breaker.reset()


@pytest.fixture(params=["frozen", "stopped"])
def cache_down(request, settings):
    """The project's Redis cache configuration, pointed at a frozen or a stopped Redis."""
    _reset_breaker()
    if request.param == "frozen":
        with frozen_server() as port:
            _redis_cache_at(settings, f"redis://127.0.0.1:{port}/0")
            yield request.param
    else:
        _redis_cache_at(settings, f"redis://127.0.0.1:{closed_port()}/0")
        yield request.param
    _reset_breaker()


def at_once(count: int, call):
    """Run ``call()`` in ``count`` threads released together; return their results. Each thread
    closes its own database connection (Django opens one per thread)."""
    from django.db import connection

    barrier = threading.Barrier(count)
    results = []

    def run():
        barrier.wait()
        try:
            results.append(call())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
