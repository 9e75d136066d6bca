"""Pylon's ASGI application called directly, in the test's event loop: plain requests, and live
streams read event by event (the test client would need the whole body; a stream never ends)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pylon.asgi import application


def _scope(method: str, path: str, headers: dict[str, str]) -> dict:
    url = urlsplit(path)
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": url.path,
        "raw_path": url.path.encode(),
        "query_string": url.query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode()) for k, v in headers.items())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


@dataclass
class Event:
    id: str | None
    type: str
    data: dict | None


@dataclass
class Stream:
    """One open request: its status and headers, then its body as it comes."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    _started: asyncio.Event = field(default_factory=asyncio.Event)
    _chunks: asyncio.Queue = field(default_factory=asyncio.Queue)
    _disconnect: asyncio.Event = field(default_factory=asyncio.Event)
    _buffer: str = ""
    comments: list[str] = field(default_factory=list)
    fields_seen: list[tuple[str, str]] = field(default_factory=list)
    task: asyncio.Task | None = None
    ended: bool = False

    async def _receive(self):
        if not hasattr(self, "_sent_body"):
            self._sent_body = True
            return {"type": "http.request", "body": getattr(self, "_body", b""), "more_body": False}
        await self._disconnect.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message):
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            self._started.set()
        elif message["type"] == "http.response.body":
            await self._chunks.put(message.get("body", b""))
            if not message.get("more_body", False):
                await self._chunks.put(None)

    async def body(self, timeout: float = 10) -> bytes:
        parts = []
        while True:
            chunk = await asyncio.wait_for(self._chunks.get(), timeout)
            if chunk is None:
                return b"".join(parts)
            parts.append(chunk)

    async def json(self) -> dict:
        return json.loads(await self.body())

    async def _chunk(self, timeout: float) -> bytes | None:
        """The next piece of the body; the application's own failure is raised, not waited out."""
        get = asyncio.ensure_future(self._chunks.get())
        await asyncio.wait({get, self.task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if get.done():
            return get.result()
        get.cancel()
        if self.task.done() and self.task.exception() is not None:
            raise self.task.exception()
        raise TimeoutError

    async def _block(self, timeout: float) -> str | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while "\n\n" not in self._buffer:
            chunk = await self._chunk(max(0.001, deadline - loop.time()))
            if chunk is None:
                self.ended = True
                return None
            self._buffer += chunk.decode()
        block, self._buffer = self._buffer.split("\n\n", 1)
        return block

    async def next_event(self, timeout: float = 10) -> Event | None:
        """The next event (None when the server ended the stream); comments and bare fields are noted."""
        while True:
            block = await self._block(timeout)
            if block is None:
                return None
            event: dict[str, str] = {}
            for line in block.split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                event[name] = value[1:] if value.startswith(" ") else value
                self.fields_seen.append((name, event[name]))
            if "data" in event:
                return Event(event.get("id"), event.get("event", "message"), json.loads(event["data"]))

    async def events(self, count: int, timeout: float = 10) -> list[Event]:
        found = []
        for _ in range(count):
            event = await self.next_event(timeout)
            assert event is not None, f"the stream ended after {found}"
            found.append(event)
        return found

    async def drain(self, until=lambda found: True, quiet: float = 0.5, timeout: float = 10) -> list[Event]:
        """Every event until ``until(events so far)`` holds and then none comes for ``quiet`` seconds
        (a loaded machine may take a while to send what is awaited; what follows is then quick)."""
        found = []
        while True:
            done = until(found)
            try:
                event = await self.next_event(quiet if done else timeout)
            except TimeoutError:
                if done:
                    return found
                raise AssertionError(f"still waiting after {[(e.id, e.type) for e in found]}") from None
            if event is None:
                return found
            found.append(event)

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await self.next_event(seconds)
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        self._disconnect.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)


async def request(method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b"") -> Stream:
    """Send a request; returns once the answer's status and headers are in (its body follows)."""
    stream = Stream()
    stream._body = body
    headers = dict(headers or {})
    if body:
        headers.setdefault("content-type", "application/json")
        headers["content-length"] = str(len(body))
    stream.task = asyncio.create_task(application(_scope(method, path, headers), stream._receive, stream._send))
    await asyncio.wait_for(stream._started.wait(), 10)
    return stream


async def call(method: str, path: str, *, token: str, data: dict | None = None) -> tuple[int, dict]:
    """A plain JSON request with a bearer credential; the status and the body."""
    body = json.dumps(data).encode() if data is not None else b""
    answer = await request(method, path, headers={"authorization": f"Bearer {token}"}, body=body)
    content = await answer.body()
    await answer.close()
    return answer.status, json.loads(content) if content else {}
