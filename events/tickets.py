"""Stream tickets: how an ``EventSource`` (which cannot send headers) authenticates.

The SPA, signed in with its JWT (or an integrator with an API key), asks for a ticket and opens
``/api/v1/events/stream/?ticket=…``. A ticket is 32 random bytes, valid for
``STREAM_TICKET_TTL_SECONDS`` and once: the database keeps only its SHA-256, bound to the principal,
and redeeming deletes the row — of two processes redeeming the same ticket at once, only the one
whose DELETE removed it wins. A table, not the cache, so that a ticket issued by one process is
redeemed by another with or without Redis. Expired rows are deleted as new tickets are issued.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from events.models import StreamTicket

PREFIX = "pst_"
MAX_LENGTH = 64


@dataclass(frozen=True)
class TicketHolder:
    """Whom a redeemed ticket was issued to: a user, or an API key (and its principal)."""

    user_id: str
    api_key_id: str | None = None


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def ticket_issue(*, user_id, api_key_id=None) -> tuple[str, datetime]:
    """A new ticket for the principal, and when it expires."""
    now = timezone.now()
    StreamTicket.objects.filter(expires_at__lte=now).delete()
    ticket = PREFIX + secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=int(settings.STREAM_TICKET_TTL_SECONDS))
    StreamTicket.objects.create(token_hash=_hash(ticket), user_id=user_id, api_key_id=api_key_id, expires_at=expires_at)
    return ticket, expires_at


def ticket_redeem(*, ticket: str) -> TicketHolder | None:
    """Whom ``ticket`` was issued to, once; None for an unknown, expired or already used ticket."""
    if not ticket.startswith(PREFIX) or len(ticket) > MAX_LENGTH:
        return None
    issued = StreamTicket.objects.filter(token_hash=_hash(ticket))
    row = issued.values("user_id", "api_key_id", "expires_at").first()
    if row is None or not issued.delete()[0]:
        return None  # unknown, or another request redeemed it first
    if row["expires_at"] <= timezone.now():
        return None
    api_key_id = row["api_key_id"]
    return TicketHolder(user_id=str(row["user_id"]), api_key_id=str(api_key_id) if api_key_id else None)
