"""The event log: one row per fact that other parts of Pylon (or, later, integrators) react to."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone


class EventType(models.TextChoices):
    """Every event Pylon records. The ``workload.*`` names are public (webhooks, the live stream);
    ``account.*`` are internal (a person's own account: never published to an organisation)."""

    WORKLOAD_SUBMITTED = "workload.submitted", "A workload was submitted"
    WORKLOAD_UPDATED = "workload.updated", "A pending workload's fields changed"
    WORKLOAD_RECOMMENDED = "workload.recommended", "A workload's recommended zones changed"
    WORKLOAD_UNSCHEDULABLE = "workload.unschedulable", "A workload has become unschedulable"
    WORKLOAD_ASSIGNED = "workload.assigned", "A workload was assigned (or reassigned) a zone and start"
    WORKLOAD_STARTED = "workload.started", "A workload started running"
    WORKLOAD_COMPLETED = "workload.completed", "A workload completed"
    WORKLOAD_FAILED = "workload.failed", "A workload failed"
    WORKLOAD_CANCELLED = "workload.cancelled", "A workload was cancelled"
    ZONE_SOURCE_CHANGED = "zone.source_changed", "A zone was created or its carbon-data source changed"
    ZONE_FORECASTS_UPDATED = "zone.forecasts_updated", "New carbon-intensity readings were stored"
    POLICY_CHANGED = "scheduling.policy_changed", "An organisation's scheduling policy changed"
    ACCOUNT_EMAIL_CONFIRMATION_REQUESTED = (
        "account.email_confirmation_requested",
        "An account's email address is to be confirmed (a link is owed)",
    )
    ACCOUNT_PASSWORD_RESET_REQUESTED = "account.password_reset_requested", "An account asked for a password reset link"
    NOTIFICATION_CREATED = "notification.created", "A user was sent a notification"


class OutboxEvent(models.Model):
    """One committed fact. ``id`` orders the log: a larger id always committed after every smaller
    one (``services.events_record`` allocates ids under a lock held to the commit), so a reader that
    remembers the last id it saw never misses a row."""

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=64, choices=EventType.choices)
    organization = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Whose event it is; empty for events about shared data (zones, forecasts).",
    )
    subject_id = models.UUIDField(
        null=True,
        blank=True,
        help_text="The workload (``workload.*``), zone (``zone.*``) or user (``account.*``) it is about.",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who caused it; empty for Pylon itself (a policy, a refresh).",
    )
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    request_id = models.CharField(
        max_length=128,
        blank=True,
        help_text="The request (X-Request-ID) whose change recorded it; the tasks it triggers log it too.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    # The relay's state: when a broker accepted the event, how often that was tried, the last failure.
    published_at = models.DateTimeField(null=True, blank=True)
    publish_attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    # When the in-process handlers (``outbox.registry``) finished with it; a redelivery after this is a no-op.
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(handled_at__isnull=True), name="outbox_unhandled_idx"),
            models.Index(fields=["organization", "id"], name="outbox_org_idx"),
            models.Index(fields=["subject_id", "id"], name="outbox_subject_idx"),
            models.Index(fields=["created_at"], name="outbox_created_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.type}"
