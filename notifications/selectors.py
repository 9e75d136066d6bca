"""Reads of notifications: each belongs to its recipient only."""

from django.db.models import QuerySet

from accounts.models import User
from notifications.models import Notification


def notification_scope(*, fetched_by: User) -> dict:
    """The column lookup that bounds what ``fetched_by`` (signed in) sees: their own inbox.
    ``notification_list`` is this on top of a fixed query (what ``pylon.db.compiled`` relies on)."""
    return {"recipient_id": fetched_by.pk}


def notification_list(*, fetched_by: User) -> QuerySet[Notification]:
    """The caller's own notifications, newest first. Nobody sees another's, the service role neither.
    (The API's `?unread=` filter narrows this further.)"""
    if not fetched_by.is_authenticated:
        return Notification.objects.none()
    notifications = Notification.objects.filter(**notification_scope(fetched_by=fetched_by)).select_related("workload")
    return notifications.order_by("-created_at", "-id")
