"""Reads of notifications: each belongs to its recipient only."""

from django.db.models import QuerySet

from accounts.models import User
from notifications.models import Notification


def notification_list(*, fetched_by: User) -> QuerySet[Notification]:
    """The caller's own notifications, newest first. Nobody sees another's, the service role neither.
    (The API's `?unread=` filter narrows this further.)"""
    if not fetched_by.is_authenticated:
        return Notification.objects.none()
    notifications = Notification.objects.filter(recipient_id=fetched_by.pk).select_related("workload")
    return notifications.order_by("-created_at", "-id")
