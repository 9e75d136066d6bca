"""Bearer JWT authentication that tells an expired access token from a bad one.

simplejwt answers both with ``token_not_valid``; a client then cannot know that refreshing would
help. An access token whose signature is good but whose ``exp`` has passed is ``token_expired``
(PyJWT checks the signature before the claims, so a forged token never reaches that branch).

A process remembers the access tokens it has verified (``_VerifiedTokens``): a client sends the same
token with every request of its five minutes, and decoding it again (PyJWT checks each of its ~550
characters in Python, then the signature) cost a tenth of a cursor page. Of what was checked, only
``exp`` can change its answer with time: it is checked again on every request, and an expired token
takes the full path, to be refused as ``token_expired``. The user is still read on every request
(``get_user``): deactivation, a password change and "sign out everywhere" refuse at once.
"""

import time
from copy import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings

from pylon.core.exceptions import ErrorCode
from pylon.db import compiled


class AccessTokenExpired(InvalidToken):
    default_detail = "The access token has expired; get a new one at POST /api/v1/auth/token/refresh/."
    default_code = ErrorCode.TOKEN_EXPIRED


class ApiKeyNotValid(AuthenticationFailed):
    default_detail = "The API key is malformed, unknown or revoked."
    default_code = ErrorCode.API_KEY_NOT_VALID


class ApiKeyExpired(AuthenticationFailed):
    default_detail = "The API key has expired; an operator of the organisation can create a new one."
    default_code = ErrorCode.API_KEY_EXPIRED


class _TokenUsers:
    """What simplejwt's ``get_user`` reads the token's user through (``user_model.objects.get(id=…)``,
    ``user_model.DoesNotExist``): the same query, run as a statement compiled once and prepared
    (``pylon.db.compiled``). simplejwt's checks (active, password changed) stay its own."""

    def __init__(self, model):
        self.model, self.objects, self.DoesNotExist = model, self, model.DoesNotExist

    def get(self, **lookup):
        ((name, value),) = lookup.items()
        try:
            value = self.model._meta.get_field(name).to_python(value)
        except DjangoValidationError:
            return self.model.objects.get(**lookup)  # as before: the ORM says what is wrong with it
        users = compiled.instances(
            self.model, ("token user", name), [value], lambda: self.model.objects.filter(**{name: value})
        )
        if not users:
            raise self.DoesNotExist
        return users[0]


class StreamTicketNotValid(AuthenticationFailed):
    default_detail = (
        "The stream ticket is unknown, expired or already used; get a new one at POST /api/v1/events/stream-tickets/."
    )
    default_code = ErrorCode.STREAM_TICKET_NOT_VALID


class _VerifiedTokens:
    """Tokens this process verified, by their text and the settings they were verified under."""

    MAX_TOKENS = 4096

    def __init__(self):
        self._tokens: dict[tuple, object] = {}

    @staticmethod
    def _key(raw_token: bytes) -> tuple:
        return (
            raw_token,
            api_settings.SIGNING_KEY,
            api_settings.VERIFYING_KEY,
            api_settings.AUDIENCE,
            api_settings.ISSUER,
            api_settings.ALGORITHM,
            tuple(api_settings.AUTH_TOKEN_CLASSES),
        )

    def get(self, raw_token: bytes):
        """A copy of the token verified earlier, if its ``exp`` has not passed since."""
        key = self._key(raw_token)
        token = self._tokens.get(key)
        if token is None:
            return None
        if token.payload["exp"] <= time.time() - _leeway_seconds():
            self._tokens.pop(key, None)
            return None
        fresh = copy(token)
        fresh.payload = dict(token.payload)
        return fresh

    def keep(self, raw_token: bytes, token) -> None:
        if len(self._tokens) >= self.MAX_TOKENS:
            self._tokens.clear()  # tokens live minutes: starting afresh costs one decode each
        kept = copy(token)
        kept.payload = dict(token.payload)
        self._tokens[self._key(raw_token)] = kept


def _leeway_seconds() -> float:
    leeway = api_settings.LEEWAY
    return leeway.total_seconds() if hasattr(leeway, "total_seconds") else float(leeway)


_verified = _VerifiedTokens()


class JWTAuthentication(authentication.JWTAuthentication):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_model = _TokenUsers(self.user_model)

    def get_validated_token(self, raw_token: bytes):
        token = _verified.get(raw_token)
        if token is None:
            token = self._decoded(raw_token)
            _verified.keep(raw_token, token)
        return token

    def _decoded(self, raw_token: bytes):
        expired = False
        for token_class in api_settings.AUTH_TOKEN_CLASSES:
            try:
                return token_class(raw_token)
            except ExpiredTokenError:
                expired = True
            except TokenError:
                continue
        if expired:
            raise AccessTokenExpired()
        raise InvalidToken("Given token not valid for any token type")

    def get_user(self, validated_token):
        user = super().get_user(validated_token)  # also refuses tokens of a changed password
        token_revoked = getattr(user, "token_revoked", None)
        if token_revoked is not None and token_revoked(validated_token):
            raise InvalidToken("This session was signed out everywhere; sign in again.")
        return user


class JWTAuthenticationScheme(SimpleJWTScheme):
    """The schema's ``jwtAuth`` security scheme, for this subclass as for simplejwt's own."""

    target_class = JWTAuthentication
