"""Waking the streams of this process: one hub per event loop (a serving process has one).

Each open stream registers a ``Listener``: whose events it shows and how far it has scanned the
log. The hub wakes the listeners a nudge concerns (``outbox.wake``): from Redis pub/sub, one
subscription per process, or in-process without Redis. It also polls the log's newest events every
``STREAM_POLL_SECONDS`` and wakes whoever they concern, so a nudge lost (Redis restarting, a
publish that failed) only delays an event. A woken stream re-reads the log itself: the hub never
carries events, and one slow stream cannot hold up another (each reads at its own pace).
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from django.conf import settings

from accounts.models import User
from events.db import read_in_thread
from outbox import selectors as outbox_selectors
from outbox import wake

logger = logging.getLogger(__name__)

#: Events the poll reads at most at once; beyond that it wakes every stream behind the head.
POLL_BATCH = 1000


class Listener:
    """One stream's registration: its caller's reach, its scan position and its wake-up flag."""

    def __init__(self, user: User, *, scanned_to: int):
        self.reach(user)
        self.scanned_to = scanned_to
        self.woken = asyncio.Event()

    def reach(self, user: User) -> None:
        """Whose events may concern this stream (a coarse filter: the stream's read decides)."""
        self.sees_every_organisation = user.is_service_role
        self.organization_id = str(user.organization_id) if user.organization_id else None
        self.user_id = str(user.pk)

    def concerned_by(self, nudge: wake.Nudge) -> bool:
        if nudge.last_id <= self.scanned_to:
            return False
        if self.user_id in nudge.user_ids:
            return True
        if self.sees_every_organisation:
            return bool(nudge.organization_ids)
        return self.organization_id in nudge.organization_ids


class Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.listeners: set[Listener] = set()
        self._task: asyncio.Task | None = None
        self._polled_to: int | None = None

    def add(self, listener: Listener) -> None:
        self.listeners.add(listener)
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._run())

    def remove(self, listener: Listener) -> None:
        self.listeners.discard(listener)
        if not self.listeners and self._task is not None:
            self._task.cancel()
            self._task = None
            self._polled_to = None

    def dispatch(self, nudge: wake.Nudge) -> None:
        for listener in list(self.listeners):
            if listener.concerned_by(nudge):
                listener.woken.set()

    def wake_behind(self, head: int) -> None:
        for listener in list(self.listeners):
            if listener.scanned_to < head:
                listener.woken.set()

    def _dispatch_from_thread(self, nudge: wake.Nudge) -> None:
        self.loop.call_soon_threadsafe(self.dispatch, nudge)

    async def _run(self) -> None:
        if settings.REDIS_URL:
            await asyncio.gather(self._poll(), self._subscribe())
            return
        wake.listen(self._dispatch_from_thread)
        try:
            await self._poll()
        finally:
            wake.unlisten(self._dispatch_from_thread)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(float(settings.STREAM_POLL_SECONDS))
            try:
                await self.poll_once()
            except Exception:  # the database away for a moment: the next poll tries again
                logger.warning("event stream: polling the log failed", exc_info=True)

    async def poll_once(self) -> None:
        """Wake the listeners the events committed since the last poll concern."""
        if self._polled_to is None:
            self._polled_to = min((listener.scanned_to for listener in self.listeners), default=0)
        events = await read_in_thread(outbox_selectors.events_after, after_id=self._polled_to, limit=POLL_BATCH)
        if not events:
            return
        self._polled_to = events[-1].pk
        nudge = wake.nudge_of(events)
        if len(events) == POLL_BATCH:
            self.wake_behind(self._polled_to)
        elif nudge is not None:
            self.dispatch(nudge)

    async def _subscribe(self) -> None:
        import redis.asyncio as aioredis

        timeout = float(settings.CACHE_SOCKET_TIMEOUT_SECONDS)
        while True:
            client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout)
            # No ``finally``: a task dropped at the loop's shutdown must not await while being closed.
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(wake.CHANNEL)
                # Subscribed (again): whatever was published before is read from the log.
                self.wake_behind(2**63 - 1)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.dispatch(wake.Nudge.from_json(message["data"]))
            except asyncio.CancelledError:
                await client.aclose()
                raise
            except Exception as exc:
                await client.aclose()
                logger.warning("event stream: Redis pub/sub unavailable (%s); polling until it is back", exc)
                await asyncio.sleep(float(settings.CACHE_RETRY_AFTER_SECONDS))


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The hub of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub(loop)
    return found
