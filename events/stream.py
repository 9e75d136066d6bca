"""The ``text/event-stream`` of one connection (an async iterator, served under ASGI).

Each event is written as::

    id: 1234
    event: workload.assigned
    data: {"id":"evt_1234","type":"workload.assigned","created_at":"…","data":{"workload":{…},…}}

``id`` is the cursor: the event's position in the log. The stream first says ``retry:`` (how long
an ``EventSource`` waits before reconnecting), reads the log from the cursor, then waits to be woken
(``fanout``), writing a ``: ping`` comment every ``STREAM_HEARTBEAT_SECONDS`` while idle (proxies
and browsers keep the connection; the caller is rechecked then, so a revoked key or deactivated
account ends its streams). It holds at most one page of events: a slow client is simply read for
at its own pace, and one whose writes take longer than ``STREAM_SEND_TIMEOUT_SECONDS`` is closed (it
reconnects with ``Last-Event-ID`` and reads on from the log).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError

from accounts.models import User
from events import selectors, slots
from events.db import read_in_thread, release_request_connections
from events.fanout import Listener, hub
from outbox.models import EventType, OutboxEvent
from pylon.db.outage import database_unavailable
from webhooks.api.messages import workload_messages

HEARTBEAT = b": ping\n\n"
#: What a workload event's payload says of the change beside the webhook message's ``data``.
TRANSITION_DETAILS = ("action", "from_status", "changed")
READ_ATTEMPTS = 4
READ_RETRY_SECONDS = 0.25

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamCaller:
    """Who a stream serves, and the connection lease it holds."""

    user: User
    api_key_id: str | None
    principal: str
    connection: str


def event_id(event: OutboxEvent) -> str:
    """The event's stable public id (the same on every stream and every reconnect)."""
    return f"evt_{event.pk}"


def events_data(events: list[OutboxEvent]) -> list[dict[str, Any]]:
    """Each event's ``data``. A workload event's is its webhook message's (``data.workload`` as
    ``GET /api/v1/workloads/{id}/`` shows it, as the change left it; two queries for all of them)
    with the transition's ``action``, ``from_status`` and ``changed``; a notification's its snapshot."""
    workload_events = [event for event in events if event.type != EventType.NOTIFICATION_CREATED]
    messages = {message.id: message.data for message in workload_messages(workload_events)} if workload_events else {}
    found = []
    for event in events:
        if event.type == EventType.NOTIFICATION_CREATED:
            notification = {k: v for k, v in event.payload["notification"].items() if k != "recipient"}
            found.append({"notification": notification})
            continue
        data = messages.get(event_id(event))
        if data is None:  # its workload is gone: the event's own snapshot
            data = {k: v for k, v in event.payload.items() if k not in ("batch", *TRANSITION_DETAILS)}
        found.append({**data, **{k: event.payload[k] for k in TRANSITION_DETAILS if k in event.payload}})
    return found


def event_message(event: OutboxEvent, data: dict[str, Any]) -> bytes:
    body = json.dumps(
        {"id": event_id(event), "type": event.type, "created_at": event.created_at, "data": data},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )
    return f"id: {event.pk}\nevent: {event.type}\ndata: {body}\n\n".encode()


def _next_messages(*, user: User, after_id: int, limit: int) -> tuple[list[tuple[int, bytes]], int]:
    """The next events ``user`` may see after ``after_id``, written out, and how far the log was scanned."""
    events, scanned_to = selectors.stream_events_after(fetched_by=user, after_id=after_id, limit=limit)
    return [
        (event.pk, event_message(event, data)) for event, data in zip(events, events_data(events), strict=True)
    ], scanned_to


async def event_stream(caller: StreamCaller, *, cursor: int) -> AsyncIterator[bytes]:
    """The stream of ``caller`` from ``cursor`` on, until the client goes or the caller may no longer."""
    user = caller.user
    listener = Listener(user, scanned_to=cursor)
    streams = hub()
    streams.add(listener)
    heartbeat = float(settings.STREAM_HEARTBEAT_SECONDS)
    send_timeout = float(settings.STREAM_SEND_TIMEOUT_SECONDS)
    batch = int(settings.STREAM_BATCH_SIZE)
    try:
        await release_request_connections()
        # The reconnect delay, and the cursor (no event: an EventSource reconnecting sends it back).
        yield f"retry: {int(settings.STREAM_RETRY_MILLISECONDS)}\nid: {cursor}\n\n".encode()
        next_beat = time.monotonic() + heartbeat
        while True:
            listener.woken.clear()  # before reading: a wake during the read is not lost
            read = await _read(user, cursor, batch)
            if read is None:
                return  # the database is away: the client resumes from its cursor when it is back
            events, listener.scanned_to = read
            for position, message in events:
                started = time.monotonic()
                yield message
                cursor = position
                if time.monotonic() - started > send_timeout:
                    return  # the client cannot keep up: it resumes from the log
            if time.monotonic() >= next_beat:  # a busy stream rechecks its caller (and renews its lease) too
                user = await _caller_now(caller, listener)
                if user is None:
                    return
                next_beat = time.monotonic() + heartbeat
            if len(events) == batch:
                continue
            while not listener.woken.is_set():
                try:
                    await asyncio.wait_for(listener.woken.wait(), timeout=max(0.0, next_beat - time.monotonic()))
                except TimeoutError:
                    # The caller as they are now: a role changed applies, a revoked key ends the stream.
                    user = await _caller_now(caller, listener)
                    if user is None:
                        return
                    started = time.monotonic()
                    yield HEARTBEAT
                    if time.monotonic() - started > send_timeout:
                        return
                    next_beat = time.monotonic() + heartbeat
    finally:
        # No await here: a generator dropped by its server is closed by the loop's finaliser, which
        # must not find it suspended. The lease is handed back off the loop (Redis may be slow).
        streams.remove(listener)
        asyncio.get_running_loop().run_in_executor(
            None, functools.partial(slots.slot_release, principal=caller.principal, connection=caller.connection)
        )


async def _read(user: User, cursor: int, batch: int) -> tuple[list[tuple[int, bytes]], int] | None:
    """The next events after ``cursor``; a database that fails transiently is tried again a few
    times (SQLite's locks, a PostgreSQL failover), then None."""
    for attempt in range(READ_ATTEMPTS):
        try:
            return await read_in_thread(_next_messages, user=user, after_id=cursor, limit=batch)
        except DatabaseError as exc:
            if not database_unavailable(exc):
                raise
            logger.warning("event stream: reading the log failed (%s), attempt %d", exc, attempt + 1)
            await asyncio.sleep(READ_RETRY_SECONDS * (attempt + 1))
    return None


async def _caller_now(caller: StreamCaller, listener: Listener) -> User | None:
    """The caller as they are now (None: they may no longer), their stream's reach updated and its
    lease renewed."""
    current = await read_in_thread(
        selectors.stream_principal_current, user_id=caller.user.pk, api_key_id=caller.api_key_id
    )
    if current is not None:
        listener.reach(current)
        await read_in_thread(slots.slot_renew, principal=caller.principal, connection=caller.connection)
    return current
