"""Batch submission: many workloads, each checked exactly as a single submission is
(``services.workload_prepare``), then saved together in a bounded number of queries.

``all_or_nothing`` (the default) saves nothing when any row fails; ``partial`` saves the valid
rows and reports the others. Either way every row's every error is reported, as
``{row, field, code, message}``. Each saved workload records its ``workload.submitted`` event in the
batch's transaction; the events carry ``batch`` (``id``, ``index``, ``size``), so scheduling computes
the whole batch as one run of the engine, not one task per workload (``scheduling.handlers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import uuid4

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from accounts.models import User
from outbox import services as outbox
from outbox.models import EventType
from pylon.core.exceptions import ApplicationError, ErrorCode
from workloads import services
from workloads.models import ComputeWorkload, WorkloadEvent, WorkloadStatus
from workloads.state_machine import ConcurrentUpdate, WorkloadAction

#: Rows per INSERT statement.
INSERT_BATCH = 500


class BatchMode(models.TextChoices):
    ALL_OR_NOTHING = "all_or_nothing", "Save nothing if any row fails"
    PARTIAL = "partial", "Save the valid rows, report the others"


@dataclass(frozen=True)
class RowError:
    """One problem with one row (rows count from 1: the first data line, or the array's first item)."""

    row: int
    field: str
    code: str
    message: str

    def __str__(self) -> str:  # the error handler reads ``code`` and ``str()`` of each problem
        return self.message


@dataclass
class BatchResult:
    mode: str
    dry_run: bool
    received: int
    valid: int
    errors: list[RowError]
    created: list[tuple[int, ComputeWorkload]] = field(default_factory=list)


class BatchRejected(ApplicationError):
    code = ErrorCode.VALIDATION_ERROR


def row_errors(row: int, exc: ValidationError) -> list[RowError]:
    """A Django ValidationError of one row as RowErrors (``__all__`` becomes ``non_field_errors``)."""
    by_field = exc.error_dict if hasattr(exc, "error_dict") else {"__all__": exc.error_list}
    return [
        RowError(row, "non_field_errors" if name == "__all__" else name, error.code or "invalid", message)
        for name, errors in by_field.items()
        for error in errors
        for message in error.messages
    ]


@transaction.atomic
def workload_batch_create(
    *,
    user: User,
    rows: Sequence[tuple[int, dict[str, Any]]],
    input_errors: Sequence[RowError] = (),
    received: int,
    mode: str = BatchMode.ALL_OR_NOTHING,
    dry_run: bool = False,
    now: datetime | None = None,
) -> BatchResult:
    """Check ``rows`` (row number, input already shaped by the submit serializer) and save the valid
    ones per ``mode``. ``input_errors`` are the rows the serializer refused: they count as failed."""
    services.workload_submitter_check(user=user)
    now = now or timezone.now()
    errors = list(input_errors)
    prepared: list[tuple[int, ComputeWorkload]] = []
    for number, data in rows:
        try:
            prepared.append((number, services.workload_prepare(user=user, data=data, now=now)))
        except ValidationError as exc:
            errors.extend(row_errors(number, exc))
    errors.sort(key=lambda error: error.row)
    result = BatchResult(mode=mode, dry_run=dry_run, received=received, valid=len(prepared), errors=errors)
    if errors and mode == BatchMode.ALL_OR_NOTHING and not dry_run:
        failed = len({error.row for error in errors})
        fields: dict[str, list[RowError]] = {}
        for error in errors:
            fields.setdefault(f"rows.{error.row}.{error.field}", []).append(error)
        raise BatchRejected(f"{failed} of {received} rows are invalid; nothing was saved.", fields=fields)
    if dry_run or not prepared:
        return result
    workloads = [workload for _, workload in prepared]
    _insert(workloads, now=now)
    WorkloadEvent.objects.bulk_create(
        [
            WorkloadEvent(
                workload=workload,
                actor=user,
                action=WorkloadAction.SUBMIT,
                from_status=None,
                to_status=WorkloadStatus.PENDING,
                created_at=now,
            )
            for workload in workloads
        ],
        batch_size=INSERT_BATCH,
    )
    # Last: recording holds the outbox's order lock until the commit.
    batch_id, size = str(uuid4()), len(workloads)
    outbox.events_record(
        events=[
            services.workload_event(
                workload,
                event_type=EventType.WORKLOAD_SUBMITTED,
                actor=user,
                batch={"id": batch_id, "index": index, "size": size},
            )
            for index, workload in enumerate(workloads)
        ]
    )
    result.created = prepared
    return result


def _insert(workloads: list[ComputeWorkload], *, now: datetime) -> None:
    for _ in range(5):
        for workload, job_id in zip(workloads, services.new_job_ids(now, len(workloads)), strict=True):
            workload.job_id = job_id
        try:
            with transaction.atomic():
                ComputeWorkload.objects.bulk_create(workloads, batch_size=INSERT_BATCH)
            return
        except IntegrityError:
            taken = ComputeWorkload.objects.filter(job_id__in=[w.job_id for w in workloads]).exists()
            if not taken:
                raise
    raise ConcurrentUpdate("Could not allocate job ids; try again.")  # pragma: no cover - see new_job_ids
