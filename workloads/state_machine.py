"""The workload lifecycle: one table of legal transitions, checked by every action.

::

    PENDING ──assign──▶ SCHEDULED ──start──▶ RUNNING ──complete──▶ COMPLETED
       │                 │  ▲ reassign         │
       │                 │  └──────┘           ├──fail──▶ FAILED
       │                 ├──fail──▶ FAILED      │
       └──cancel──▶ CANCELLED ◀──cancel────────┘
"""

from django.db import models

from pylon.core.exceptions import ApplicationError, ErrorCode
from workloads.models import WorkloadStatus


class WorkloadAction(models.TextChoices):
    SUBMIT = "submit", "Submitted"
    ASSIGN = "assign", "Assigned a zone"
    REASSIGN = "reassign", "Reassigned to another zone or start"
    START = "start", "Started"
    COMPLETE = "complete", "Completed"
    FAIL = "fail", "Failed"
    CANCEL = "cancel", "Cancelled"


S = WorkloadStatus
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    WorkloadAction.ASSIGN: (frozenset({S.PENDING}), S.SCHEDULED),
    WorkloadAction.REASSIGN: (frozenset({S.SCHEDULED}), S.SCHEDULED),
    WorkloadAction.START: (frozenset({S.SCHEDULED}), S.RUNNING),
    WorkloadAction.COMPLETE: (frozenset({S.RUNNING}), S.COMPLETED),
    WorkloadAction.FAIL: (frozenset({S.SCHEDULED, S.RUNNING}), S.FAILED),
    WorkloadAction.CANCEL: (frozenset({S.PENDING, S.SCHEDULED, S.RUNNING}), S.CANCELLED),
}


class InvalidTransition(ApplicationError):
    status_code = 409
    code = ErrorCode.INVALID_TRANSITION


class ConcurrentUpdate(ApplicationError):
    status_code = 409
    code = ErrorCode.CONCURRENT_UPDATE


def next_status(action: str, current: str, *, allowed_from: frozenset[str] | None = None) -> str:
    """The status ``action`` leads to from ``current``; an illegal move raises ``InvalidTransition``.

    ``allowed_from`` narrows the table's sources to what this caller may act on (an owner cancels only
    PENDING or SCHEDULED work), so the refusal lists what the caller can actually do.
    """
    sources, target = TRANSITIONS[action]
    if allowed_from is not None:
        sources = sources & allowed_from
    if current not in sources:
        ordered = [status for status in S.values if status in sources]  # in lifecycle order
        allowed = ordered[0] if len(ordered) == 1 else f"{', '.join(ordered[:-1])} or {ordered[-1]}"
        raise InvalidTransition(
            f"Cannot {WorkloadAction(action).value} a workload that is {current}; it must be {allowed}.",
            fields={"status": [f"Is {current}; {WorkloadAction(action).value} needs {allowed}."]},
        )
    return target
