"""``Authorization: Bearer pyl_…`` or ``X-API-Key: pyl_…``: the request acts as the key's principal
(``request.user``) with the key as ``request.auth`` (whose scopes ``pylon.api.permissions`` checks).

It runs before the JWT authentication: a bearer value that is not a Pylon key (a JWT) is left to
it. A value that is meant as a key but is malformed, fails its checksum, is unknown or revoked is a
401 ``api_key_not_valid``; an expired one a 401 ``api_key_expired`` — at once, no cache in between.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from apikeys import selectors, services, tokens
from pylon.api.authentication import ApiKeyExpired, ApiKeyNotValid

HEADER = "X-API-Key"


def presented_key(request) -> str | None:
    header = request.META.get("HTTP_X_API_KEY")
    if header is not None:
        return header.strip()
    parts = get_authorization_header(request).split()
    if len(parts) == 2 and parts[0].lower() == b"bearer":
        value = parts[1].decode("latin-1")
        if tokens.looks_like_key(value):
            return value
    return None


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        key = presented_key(request)
        if key is None:
            return None
        row = selectors.api_key_authenticate(key=key)
        if row is None or row.revoked_at is not None or not row.principal.is_active:
            raise ApiKeyNotValid()
        now = timezone.now()
        if not row.is_usable(now):
            raise ApiKeyExpired()
        services.api_key_mark_used(key=row, now=now)
        return row.principal, row

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """The schema's second security scheme: generated clients send the key as ``X-API-Key``."""

    target_class = ApiKeyAuthentication
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": HEADER,
            "description": (
                "An organisation's API key (`pyl_…`), created by its operators at `POST /api/v1/api-keys/`. "
                "Also accepted as `Authorization: Bearer pyl_…`. A key acts inside its organisation and "
                "only with its scopes; each operation names the scope it needs."
            ),
        }
