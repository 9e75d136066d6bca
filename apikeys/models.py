"""API keys: credentials for machines (job runners, CI, cluster agents) of one organisation."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiKeyScope(models.TextChoices):
    WORKLOADS_READ = "workloads:read", "Read workloads, their timelines and recommendations"
    WORKLOADS_WRITE = "workloads:write", "Submit workloads; change and cancel the key's own"
    WORKLOADS_OPERATE = "workloads:operate", "Assign, start, complete, fail and cancel the organisation's workloads"
    ZONES_READ = "zones:read", "Read grid zones and their figures"
    WEBHOOKS_MANAGE = "webhooks:manage", "Manage the organisation's webhook endpoints"


class ApiKey(models.Model):
    """One key. It acts through ``principal``, a service-account user of role OPERATOR in
    ``organization`` that exists only for this key (no password, no admin): every selector already
    scopes that user to the organisation, and the scopes narrow it further (``pylon.api.permissions``).
    What the key submits is owned by the principal; events name the principal as their actor."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What the key is for, e.g. `ci-runner`.")
    prefix = models.CharField(
        max_length=16, unique=True, help_text="The key's first characters (not secret): how people recognise it."
    )
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the key, hex.")
    scopes = models.JSONField(default=list, help_text="The `ApiKeyScope` values the key holds.")
    principal = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_key", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: the key does not expire.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="To the minute.")

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name = "API key"
        indexes = [models.Index(fields=["organization", "-created_at"], name="apikey_org_recent_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    #: How ``pylon.api`` tells a key's request from a person's (it does not import this app).
    is_api_key = True

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
