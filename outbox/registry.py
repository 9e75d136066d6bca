"""Who reacts to which event: handlers registered by the consuming apps (in their ``ready()``).

A handler is a plain function ``handler(event: OutboxEvent) -> None`` that runs in a Celery worker
(in-process when Celery is eager), inside a transaction of its event's own: what it writes commits
with the event's ``handled_at``, and its ``on_commit`` callbacks run after that. Delivery is at least
once, so a handler must be idempotent: run twice for one event, it leaves the same rows as once. It
raises to have the event rolled back and retried; the other events of its message go on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from outbox.models import OutboxEvent

Handler = Callable[["OutboxEvent"], None]

_handlers: dict[str, dict[str, Handler]] = {}


def handler(*event_types: str) -> Callable[[Handler], Handler]:
    """Register the decorated function for ``event_types`` (registering it again replaces it)."""

    def register(function: Handler) -> Handler:
        name = f"{function.__module__}.{function.__qualname__}"
        for event_type in event_types:
            _handlers.setdefault(str(event_type), {})[name] = function
        return function

    return register


def handlers_for(event_type: str) -> list[Handler]:
    return list(_handlers.get(str(event_type), {}).values())


def has_handlers(event_type: str) -> bool:
    return bool(_handlers.get(str(event_type)))
