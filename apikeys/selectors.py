"""Reads for API keys: who sees which keys is decided here, once (the API and the admin)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from apikeys import tokens
from apikeys.models import ApiKey


def api_key_list(*, fetched_by: User) -> QuerySet[ApiKey]:
    """The service role sees every key; an operator their organisation's; anyone else none. (A key
    cannot reach its keys' endpoints at all: they declare no scope, so keys are refused.)"""
    keys = ApiKey.objects.select_related("organization", "created_by")
    if not fetched_by.is_authenticated:
        return keys.none()
    if fetched_by.is_service_role:
        return keys
    if fetched_by.is_operator and fetched_by.organization_id:
        return keys.filter(organization_id=fetched_by.organization_id)
    return keys.none()


def api_key_authenticate(*, key: str) -> ApiKey | None:
    """The key's row when ``key`` is well formed and its hash matches (constant-time), else None.
    Revocation and expiry are the caller's to check (they are reported differently)."""
    if not tokens.key_is_well_formed(key):
        return None
    row = (
        ApiKey.objects.select_related("principal", "principal__organization")
        .filter(prefix=tokens.key_lookup_prefix(key))
        .first()
    )
    if row is None or not tokens.key_matches(key, row.key_hash):
        return None
    return row


def api_key_usable(*, key_id) -> ApiKey | None:
    """The key ``key_id`` with its principal while it may still be used (not revoked, not expired,
    its principal active): a stream ticket issued to it, and the stream it opened, recheck it."""
    row = ApiKey.objects.select_related("principal", "principal__organization").filter(pk=key_id).first()
    if row is None or not row.is_usable() or not row.principal.is_active:
        return None
    return row
