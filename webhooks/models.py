"""Webhook endpoints an organisation registers, the messages owed to them and every attempt."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class WebhookEventType(models.TextChoices):
    """What an endpoint can subscribe to: the public workload events of the outbox, and ``ping``."""

    WORKLOAD_SUBMITTED = "workload.submitted", "A workload was submitted"
    WORKLOAD_RECOMMENDED = "workload.recommended", "A workload's recommended zones changed"
    WORKLOAD_UNSCHEDULABLE = "workload.unschedulable", "A workload has become unschedulable"
    WORKLOAD_ASSIGNED = "workload.assigned", "A workload was assigned (or reassigned) a zone and start"
    WORKLOAD_STARTED = "workload.started", "A workload started running"
    WORKLOAD_COMPLETED = "workload.completed", "A workload completed"
    WORKLOAD_FAILED = "workload.failed", "A workload failed"
    WORKLOAD_CANCELLED = "workload.cancelled", "A workload was cancelled"
    PING = "ping", "A test message sent on request"


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000, help_text="Where Pylon POSTs the events (https).")
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text="The WebhookEventType values wanted.")
    # The signing secrets: HMAC needs the secret itself, so it is stored (shown to the caller only
    # when created or rotated). The previous one still signs until ``previous_secret_expires_at``.
    secret = models.CharField(max_length=80)
    previous_secret = models.CharField(max_length=80, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    #: Since when every attempt has failed (cleared by a success); days of it disable the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["organization", "enabled"], name="webhook_endpoint_org_idx")]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting for its next attempt"
    DELIVERED = "delivered", "The endpoint answered 2xx"
    FAILED = "failed", "Every scheduled attempt failed"


class WebhookDelivery(models.Model):
    """One message owed to one endpoint: ``message_id`` (the ``webhook-id`` header, the event's
    stable id) is unique per endpoint, so fanning an event out twice creates nothing new."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64, choices=WebhookEventType.choices)
    #: The exact JSON body sent, so every retry sends the same bytes.
    body = models.TextField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "message_id"], name="webhook_delivery_once_per_endpoint")
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due_idx")
        ]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.endpoint_id}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"
