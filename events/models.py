"""The stream tickets (``events.tickets``): one row per ticket issued and not yet used or expired."""

from django.conf import settings
from django.db import models


class StreamTicket(models.Model):
    """A ticket's SHA-256 (never the ticket), whom it acts as, and until when. Redeeming deletes it."""

    token_hash = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey("apikeys.ApiKey", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"stream ticket until {self.expires_at:%H:%M:%S}"
