"""A scripted HTTP server on 127.0.0.1 for testing API clients without the network.

Tests queue responses per path prefix, point a client's base URL at
``server.base_url``, and inspect ``server.requests`` afterwards::

    with FakeHttpServer() as server:
        server.enqueue("/regional/intensity/", Scripted(json_body={...}))
        server.enqueue("/intensity/", Scripted(status=500), Scripted(delay=2.0))
        ...
        assert "content-type" not in server.requests[0].headers

Each request takes the next queued response of the longest matching prefix;
once a prefix's queue is empty its ``repeat`` response (if set) is served.
Unscripted requests get a 404 JSON error, so a test never hangs on them.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Scripted:
    """One canned response. ``json_body`` wins over ``body``; ``delay`` (seconds) is waited
    before anything is sent, to trigger a client's read timeout."""

    status: int = 200
    json_body: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def payload(self) -> tuple[bytes, str]:
        if self.json_body is not None:
            return json.dumps(self.json_body).encode(), "application/json"
        return self.body, "text/plain; charset=utf-8"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes


class FakeHttpServer:
    """Threaded stdlib HTTP server with per-prefix response queues and a request log."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Scripted]] = defaultdict(deque)
        self._repeat: dict[str, Scripted] = {}
        self._log: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> FakeHttpServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer((self._host, 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # don't wait for handlers still sleeping on a delay
        self._stopping.clear()
        # A short poll interval keeps stop() (which waits for the next poll) fast.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers waiting on a delay
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> FakeHttpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting ---------------------------------------------------------

    def enqueue(self, path_prefix: str, *responses: Scripted) -> None:
        """Serve ``responses`` in order to requests whose path starts with ``path_prefix``."""
        with self._lock:
            self._queues[path_prefix].extend(responses)

    def repeat(self, path_prefix: str, response: Scripted) -> None:
        """Serve ``response`` for ``path_prefix`` whenever its queue is empty."""
        with self._lock:
            self._repeat[path_prefix] = response

    def pending(self) -> dict[str, int]:
        """Queued responses not yet served, by prefix (empty queues omitted)."""
        with self._lock:
            return {prefix: len(queue) for prefix, queue in self._queues.items() if queue}

    # -- inspection --------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    # -- used by the handler -----------------------------------------------

    def _record_and_choose(self, request: RecordedRequest) -> Scripted:
        with self._lock:
            self._log.append(request)
            prefixes = [p for p in (*self._queues, *self._repeat) if request.path.startswith(p)]
            for prefix in sorted(prefixes, key=len, reverse=True):
                if self._queues[prefix]:
                    return self._queues[prefix].popleft()
                if prefix in self._repeat:
                    return self._repeat[prefix]
        message = f"fake server: nothing scripted for {request.method} {request.path}"
        return Scripted(status=404, json_body={"error": {"code": "404", "message": message}})


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHttpServer  # set on the per-server subclass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = RecordedRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        scripted = self.fake._record_and_choose(request)
        if scripted.delay and self.fake._stopping.wait(scripted.delay):
            return  # server stopping: drop the response
        body, content_type = scripted.payload()
        try:
            self.send_response(scripted.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in scripted.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its read timeout fired first)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output clean; the request log is the record."""
