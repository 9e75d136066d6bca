"""Stream tickets: how an ``EventSource`` (which cannot send headers) authenticates.

The SPA, signed in with its JWT (or an integrator with an API key), asks for a ticket and opens
``/api/v1/events/stream/?ticket=…``. A ticket is 32 random bytes, valid for
``STREAM_TICKET_TTL_SECONDS`` and once: the cache (Redis: shared by every process) holds only its
SHA-256, bound to the principal, and redeeming deletes it — of two processes redeeming the same
ticket at once, only the one whose delete removed it wins. Nothing in the URL outlives a minute.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from pylon.core.exceptions import ApplicationError, ErrorCode

PREFIX = "pst_"
MAX_LENGTH = 64


class TicketsUnavailable(ApplicationError):
    status_code = 503
    code = ErrorCode.SERVICE_UNAVAILABLE


@dataclass(frozen=True)
class TicketHolder:
    """Whom a redeemed ticket was issued to: a user, or an API key (and its principal)."""

    user_id: str
    api_key_id: str | None = None


def _cache_key(ticket: str) -> str:
    return "stream-ticket:" + hashlib.sha256(ticket.encode()).hexdigest()


def ticket_issue(*, user_id, api_key_id=None) -> tuple[str, datetime]:
    """A new ticket for the principal and when it expires. 503 when the cache cannot keep it."""
    ttl = int(settings.STREAM_TICKET_TTL_SECONDS)
    ticket = PREFIX + secrets.token_urlsafe(32)
    key = _cache_key(ticket)
    cache.set(key, {"user": str(user_id), "key": str(api_key_id) if api_key_id else None}, timeout=ttl)
    if not cache.has_key(key):  # the cache is down (it fails open): the ticket would never redeem
        raise TicketsUnavailable(
            "Stream tickets are unavailable right now; send the Authorization header instead, or retry."
        )
    return ticket, timezone.now() + timedelta(seconds=ttl)


def ticket_redeem(*, ticket: str) -> TicketHolder | None:
    """Whom ``ticket`` was issued to, once; None for an unknown, expired or already used ticket."""
    if not ticket.startswith(PREFIX) or len(ticket) > MAX_LENGTH:
        return None
    key = _cache_key(ticket)
    held = cache.get(key)
    if not isinstance(held, dict) or not cache.delete(key):
        return None
    return TicketHolder(user_id=held["user"], api_key_id=held.get("key"))
