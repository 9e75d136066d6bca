"""Waking the live event streams when events commit.

After a transaction that recorded events commits, one tiny *nudge* is sent: "the log has events up
to id N, of these organisations and for these notification recipients" — never the events
themselves. A stream that the nudge concerns re-reads the log from its cursor, so the log stays the
one truth; a lost nudge only delays (the streams poll the log's head too, ``events.fanout``).

With ``REDIS_URL`` the nudge is published on Redis pub/sub (``CHANNEL``), to which every serving
process subscribes; one bounded attempt, and after a failure this process stops trying for
``CACHE_RETRY_AFTER_SECONDS``. Without Redis (the embedded default: one process) it goes to the
listeners registered in this process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from outbox.models import EventType, OutboxEvent

logger = logging.getLogger(__name__)

CHANNEL = "pylon:events:nudge"
#: The events the live streams show: every ``workload.*`` event and new notifications. Nudges are
#: sent for these only.
WORKLOAD_EVENT_TYPES = tuple(value for value in EventType.values if value.startswith("workload."))
STREAMED_EVENT_TYPES = (*WORKLOAD_EVENT_TYPES, EventType.NOTIFICATION_CREATED)


@dataclass(frozen=True)
class Nudge:
    """New events up to ``last_id`` of ``organization_ids`` and notifications for ``user_ids``."""

    last_id: int
    organization_ids: frozenset[str] = frozenset()
    user_ids: frozenset[str] = frozenset()

    def to_json(self) -> str:
        return json.dumps(
            {"last_id": self.last_id, "orgs": sorted(self.organization_ids), "users": sorted(self.user_ids)}
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Nudge:
        data = json.loads(raw)
        return cls(int(data["last_id"]), frozenset(data.get("orgs", ())), frozenset(data.get("users", ())))


def nudge_of(events: Iterable[OutboxEvent]) -> Nudge | None:
    """The nudge of ``events``; None when no stream can be concerned (none of them is streamed)."""
    events = [event for event in events if event.type in STREAMED_EVENT_TYPES]
    organization_ids = frozenset(str(event.organization_id) for event in events if event.organization_id)
    user_ids = frozenset(
        str(event.payload["notification"]["recipient"])
        for event in events
        if event.type == EventType.NOTIFICATION_CREATED
    )
    if not organization_ids and not user_ids:
        return None
    return Nudge(last_id=max(event.pk for event in events), organization_ids=organization_ids, user_ids=user_ids)


def nudge_after_commit(events: Iterable[OutboxEvent]) -> None:
    """Send the nudge of ``events`` once the current transaction commits (none on a rollback)."""
    nudge = nudge_of(events)
    if nudge is not None:
        transaction.on_commit(lambda: publish(nudge), robust=True)


# -- in this process ----------------------------------------------------------------------------

_listeners: list[Callable[[Nudge], None]] = []
_listeners_lock = threading.Lock()


def listen(callback: Callable[[Nudge], None]) -> None:
    """Call ``callback(nudge)`` (from whichever thread committed) for every nudge of this process
    when there is no Redis."""
    with _listeners_lock:
        _listeners.append(callback)


def unlisten(callback: Callable[[Nudge], None]) -> None:
    with _listeners_lock:
        if callback in _listeners:
            _listeners.remove(callback)


# -- across processes ---------------------------------------------------------------------------

_client = None
_client_lock = threading.Lock()
_paused_until = 0.0


def redis_client():
    """This process's Redis client for the live streams' coordination (bounded sockets)."""
    global _client
    with _client_lock:
        if _client is None:
            import redis

            timeout = float(settings.CACHE_SOCKET_TIMEOUT_SECONDS)
            _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)
        return _client


def publish(nudge: Nudge) -> None:
    global _paused_until
    if not settings.REDIS_URL:
        with _listeners_lock:
            callbacks = list(_listeners)
        for callback in callbacks:
            callback(nudge)
        return
    if time.monotonic() < _paused_until:
        return
    try:
        redis_client().publish(CHANNEL, nudge.to_json())
    except Exception as exc:  # Redis down or frozen: the streams' poll finds the events a little later
        _paused_until = time.monotonic() + float(settings.CACHE_RETRY_AFTER_SECONDS)
        logger.warning("outbox: could not nudge the live streams (%s); they will poll", exc)
