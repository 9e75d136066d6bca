"""Reads of the live stream. Who sees which event is not decided here: a workload's events are
visible to whoever the workloads selector shows the workload to (its owner; an operator of its
organisation; the service role), a notification's to whoever the notifications selector shows it
to (its recipient only). Both are used as subqueries, so the rules have one home each."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts import selectors as account_selectors
from accounts.models import User
from apikeys import selectors as apikey_selectors
from notifications import selectors as notification_selectors
from outbox import selectors as outbox_selectors
from outbox import wake
from outbox.models import EventType, OutboxEvent
from workloads import selectors as workload_selectors

WORKLOAD_EVENT_TYPES = wake.WORKLOAD_EVENT_TYPES


def stream_event_list(*, fetched_by: User) -> QuerySet[OutboxEvent]:
    """The events of the log ``fetched_by`` may receive on the live stream, oldest first."""
    if not fetched_by.is_authenticated:
        return OutboxEvent.objects.none()
    workloads = workload_selectors.workload_list(fetched_by=fetched_by).order_by().values("pk")
    notifications = notification_selectors.notification_list(fetched_by=fetched_by).order_by().values("pk")
    return OutboxEvent.objects.filter(
        Q(type__in=WORKLOAD_EVENT_TYPES, subject_id__in=workloads)
        | Q(type=EventType.NOTIFICATION_CREATED, subject_id__in=notifications)
    ).order_by("id")


def stream_events_after(*, fetched_by: User, after_id: int, limit: int) -> tuple[list[OutboxEvent], int]:
    """The next (at most ``limit``) events ``fetched_by`` may see after the cursor ``after_id``, and
    how far the log was scanned: a reader resuming from there misses nothing (ids are in commit
    order), and skips the events of others in between. Two queries."""
    head = outbox_selectors.event_log_head()
    events = list(stream_event_list(fetched_by=fetched_by).filter(id__gt=after_id, id__lte=head)[:limit])
    scanned_to = events[-1].pk if len(events) == limit else max(head, after_id)
    return events, scanned_to


def stream_principal_current(*, user_id, api_key_id=None) -> User | None:
    """The stream's caller as it is now (None once the account is deactivated or the key revoked
    or expired): a stream rechecks it at every heartbeat, so a revocation ends it within one."""
    if api_key_id is not None:
        key = apikey_selectors.api_key_usable(key_id=api_key_id)
        return key.principal if key is not None else None
    return account_selectors.user_active(user_id=user_id)
