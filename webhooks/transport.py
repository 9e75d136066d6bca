"""One bounded HTTP POST to a vetted address (``targets.Target``).

The connection goes to the address ``targets`` checked, never to a second lookup of the name; the
Host header and TLS SNI/certificate check use the name. No redirect is followed (http.client never
does). Connect gives up after ``WEBHOOK_CONNECT_TIMEOUT_SECONDS``, the whole exchange after
``WEBHOOK_TOTAL_TIMEOUT_SECONDS`` (a watchdog shuts the socket, so a server dripping one byte at a
time cannot hold a worker), and at most ``WEBHOOK_RESPONSE_MAX_BYTES`` of the answer are read.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from webhooks.targets import Target

EXCERPT_CHARS = 1000


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    excerpt: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, address: str, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection(
            (self._address, self.port), timeout=float(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS)
        )
        self.sock.settimeout(self.timeout)


class _PinnedTLSConnection(_PinnedConnection):
    default_port = 443

    def connect(self):
        super().connect()
        self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host)


def post(*, target: Target, headers: dict[str, str], body: bytes) -> Outcome:
    total = float(settings.WEBHOOK_TOTAL_TIMEOUT_SECONDS)
    started = time.monotonic()
    connection_class = _PinnedTLSConnection if target.scheme == "https" else _PinnedConnection
    connection = connection_class(target, target.addresses[0], timeout=total)
    expired = threading.Event()

    def watchdog():
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(total, watchdog)
    timer.daemon = True
    timer.start()
    try:
        request_headers = {
            "Content-Type": "application/json",
            "User-Agent": "Pylon-Webhooks/1",
            "Connection": "close",
            **headers,
        }
        connection.request("POST", target.path, body=body, headers=request_headers)
        response = connection.getresponse()
        data = response.read(int(settings.WEBHOOK_RESPONSE_MAX_BYTES))
        excerpt = data.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        return Outcome(response.status, _since(started), excerpt)
    except (OSError, http.client.HTTPException) as exc:
        reason = "timed out" if expired.is_set() or isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return Outcome(None, _since(started), error=reason[:300])
    finally:
        timer.cancel()
        connection.close()


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
