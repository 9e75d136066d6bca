"""Writes for API keys: create (the secret is returned once, never stored), revoke, and the cheap
``last_used_at`` stamp."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization, Role, User
from apikeys import tokens
from apikeys.models import ApiKey, ApiKeyScope
from pylon.core.exceptions import ApplicationError

#: ``last_used_at`` is written at most this often per key: one UPDATE a minute, not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
PRINCIPAL_EMAIL_DOMAIN = "api-keys.pylon.invalid"  # .invalid: never a deliverable address (RFC 2606)


def _valid_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(ApiKeyScope.values))
    if unknown or not scopes:
        raise ApplicationError(
            "Give at least one known scope.", fields={"scopes": [f"Unknown scope {s}." for s in unknown] or ["Empty."]}
        )
    return sorted(set(scopes))


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    scopes: list[str],
    created_by: User,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key of ``organization`` and its secret (shown to the creator once, never again).

    Only the organisation's operators and the service role may create one."""
    if not created_by.operates(organization.pk):
        raise PermissionDenied("Only operators of the organisation may create its API keys.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("The expiry must be in the future.", fields={"expires_at": ["In the past."]})
    scopes = _valid_scopes(scopes)
    for _ in range(3):  # a prefix collision (8 base62 characters) is astronomically rare; retry anyway
        secret = tokens.key_generate()
        key = ApiKey(
            organization=organization,
            name=name,
            prefix=tokens.key_lookup_prefix(secret),
            key_hash=tokens.key_hash(secret),
            scopes=scopes,
            created_by=created_by,
            expires_at=expires_at,
        )
        key.principal = get_user_model().objects.create_user(
            email=f"key-{key.id}@{PRINCIPAL_EMAIL_DOMAIN}",
            password=None,  # unusable: a key's principal never signs in with a password
            user_name=f"API key {name} ({key.prefix}…)",
            role=Role.OPERATOR,
            organization=organization,
            is_api_key_principal=True,  # no member: never listed, counted, or signed in as
            # No mailbox to confirm (.invalid): the operator who created the key vouches for it.
            email_verified_at=timezone.now(),
        )
        try:
            with transaction.atomic():
                key.full_clean(exclude=["principal"])
                key.save(force_insert=True)
        except IntegrityError:
            key.principal.delete()
            continue
        return key, secret
    raise ApplicationError("Could not create a unique key; try again.")  # pragma: no cover


@transaction.atomic
def api_key_revoke(*, key: ApiKey, revoked_by: User) -> ApiKey:
    """Revoked at once: the next request with it is a 401 (the principal is deactivated too, so no
    other path can act as it)."""
    if not revoked_by.operates(key.organization_id):
        raise PermissionDenied("Only operators of the organisation may revoke its API keys.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        User.objects.filter(pk=key.principal_id).update(is_active=False)
    return key


def api_key_mark_used(*, key: ApiKey, now: datetime | None = None) -> None:
    """Stamp ``last_used_at``, at most once per ``LAST_USED_RESOLUTION`` (a conditional UPDATE, so
    concurrent requests write it once and a fresh stamp costs no write)."""
    now = now or timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now)
    key.last_used_at = now
