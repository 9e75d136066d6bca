"""Database reads from the event loop.

A stream must never block the loop on a query, nor hold the one thread Django runs its sync views
in: a read runs in a worker thread (``sync_to_async(thread_sensitive=False)``). That thread's
connection is closed as soon as the read is done, so thousands of idle streams hold no database
connection at all, and no connection is left behind in a pooled thread nobody will run again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

T = TypeVar("T")


def _read_and_close(read: Callable[..., T], kwargs: dict[str, Any]) -> T:
    try:
        return read(**kwargs)
    finally:
        connections.close_all()


async def release_request_connections() -> None:
    """Close the connections of the request's own thread (``sync_to_async``'s thread-sensitive one,
    where the view ran): a stream outlives its view by hours, and must not hold one meanwhile."""
    await sync_to_async(connections.close_all)()


async def read_in_thread(read: Callable[..., T], /, **kwargs: Any) -> T:
    """``read(**kwargs)`` in a worker thread, whose database connection is closed afterwards."""
    return await sync_to_async(_read_and_close, thread_sensitive=False)(read, kwargs)
