from django.conf import settings
from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """A POST made with an ``Idempotency-Key`` header: claimed when it starts, its response stored
    when it ends, so a retry with the same key and body gets that response again (Stripe's model)."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of the method, path and (canonical JSON) body of the first request."
    )
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2048)
    created_at = models.DateTimeField(default=timezone.now)
    #: Empty while the first request is in flight.
    completed_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_content_type = models.CharField(max_length=200, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.method} {self.path})"
