"""Bearer JWT authentication that tells an expired access token from a bad one.

simplejwt answers both with ``token_not_valid``; a client then cannot know that refreshing would
help. An access token whose signature is good but whose ``exp`` has passed is ``token_expired``
(PyJWT checks the signature before the claims, so a forged token never reaches that branch).
"""

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


class JWTAuthentication(authentication.JWTAuthentication):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_model = _TokenUsers(self.user_model)

    def get_validated_token(self, raw_token: bytes):
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
