"""What the current log lines belong to: the request (and the task it triggered), per thread/task."""

from __future__ import annotations

import contextvars
import re
import uuid

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("pylon_request_id", default=None)
task_name: contextvars.ContextVar[str | None] = contextvars.ContextVar("pylon_task_name", default=None)
task_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("pylon_task_id", default=None)

#: An incoming X-Request-ID is kept when it is this tame (a load balancer's or a client's id); any
#: other value is replaced, so a log line can never be forged or flooded through the header.
MAX_REQUEST_ID_LENGTH = 128
_ACCEPTED = re.compile(rf"[A-Za-z0-9._:@/+=-]{{1,{MAX_REQUEST_ID_LENGTH}}}")


def accept_request_id(incoming: str | None) -> str:
    if incoming and _ACCEPTED.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex
