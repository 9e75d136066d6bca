"""Writes of notifications. Every app that tells a user something calls ``notification_create`` (one)
or ``notification_create_many`` (a batch, one insert per 1,000); the texts are the caller's, the
rules of who may read them are this app's.

Each new notification is also recorded in the event log (``notification.created``, in the same
transaction), which is how a user's live event stream receives it, in one order with the events of
their workloads (one cursor resumes both). Like the other events, create notifications as the
last writes of a transaction (recording holds the log's order lock until the commit)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from notifications import selectors
from notifications.models import Notification, NotificationKind
from outbox import services as outbox
from outbox.models import EventType

TITLE_MAX_LENGTH = Notification._meta.get_field("title").max_length
DB_BATCH = 1000


@dataclass(frozen=True)
class NotificationDraft:
    """One notification to write (``notification_create_many``)."""

    recipient_id: Any
    kind: str
    title: str
    body: str = ""
    workload_id: Any = None


def _build(draft: NotificationDraft) -> Notification:
    # Callers are code, not users: a wrong kind or an overlong title is a bug, so it raises.
    if draft.kind not in NotificationKind.values:
        raise ValueError(f"unknown notification kind {draft.kind!r}")
    if len(draft.title) > TITLE_MAX_LENGTH:
        raise ValueError(f"notification title longer than {TITLE_MAX_LENGTH} characters")
    return Notification(
        recipient_id=draft.recipient_id,
        kind=draft.kind,
        title=draft.title,
        body=draft.body,
        workload_id=draft.workload_id,
    )


def _announce(notifications: list[Notification]) -> None:
    outbox.events_record(
        events=[
            outbox.NewEvent(
                type=EventType.NOTIFICATION_CREATED,
                subject_id=notification.pk,
                payload={"notification": notification_snapshot(notification)},
            )
            for notification in notifications
        ]
    )


def notification_snapshot(notification: Notification) -> dict[str, Any]:
    """What the event log (and so the live stream) says of a new notification."""
    return {
        "id": notification.pk,
        "recipient": notification.recipient_id,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "workload": notification.workload_id,
        "created_at": notification.created_at,
    }


def notification_create(*, user: User, kind: str, title: str, body: str = "", workload_id=None) -> Notification:
    """Tell ``user`` something (about their workload ``workload_id``, when given)."""
    notification = _build(NotificationDraft(user.pk, kind, title, body, workload_id))
    with transaction.atomic(savepoint=False):  # the caller's transaction, or one of its own
        notification.save(force_insert=True)
        _announce([notification])
    return notification


def notification_create_many(*, drafts: Iterable[NotificationDraft]) -> int:
    """Write many notifications in bulk (e.g. after a recompute); returns how many."""
    notifications = [_build(draft) for draft in drafts]
    with transaction.atomic(savepoint=False):
        Notification.objects.bulk_create(notifications, batch_size=DB_BATCH)
        _announce(notifications)
    return len(notifications)


def notifications_forget(*, user: User) -> int:
    """Erase the copies of ``user``'s notifications in the event log (their rows go with the
    account, by cascade); returns how many."""
    ids = Notification.objects.filter(recipient_id=user.pk).values_list("pk", flat=True)
    return outbox.events_forget(type=EventType.NOTIFICATION_CREATED, subject_ids=ids)


def notification_mark_read(*, notification: Notification) -> Notification:
    """Mark one of the caller's notifications read (already read stays as it was)."""
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user: User) -> int:
    """Mark every unread notification of ``user`` read; returns how many."""
    unread = selectors.notification_list(fetched_by=user).filter(read_at__isnull=True)
    return unread.order_by().update(read_at=timezone.now())
