"""Messages to one user: about their workloads today, and whatever else Pylon has to tell them
(webhook failures, keys, batch results). Other apps create them through ``notifications.services``;
only the recipient ever reads them."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class NotificationKind(models.TextChoices):
    ASSIGNED = "ASSIGNED", "Assigned"
    STARTED = "STARTED", "Started"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed"
    UNSCHEDULABLE = "UNSCHEDULABLE", "Cannot be scheduled"
    CANCELLED = "CANCELLED", "Cancelled"
    WEBHOOK_DISABLED = "WEBHOOK_DISABLED", "A webhook endpoint was disabled"
    OVERBOOKED = "OVERBOOKED", "A zone is held over capacity"


class Notification(models.Model):
    """A message to one user, about one of their workloads when ``workload`` is set."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    workload = models.ForeignKey(
        "workloads.ComputeWorkload", on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "read_at", "created_at"], name="notification_inbox_idx"),
            # The inbox's scope and order: a page (first or by cursor) is a short range scan.
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"
