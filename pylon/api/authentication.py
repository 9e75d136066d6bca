"""Bearer JWT authentication that tells an expired access token from a bad one.

simplejwt answers both with ``token_not_valid``; a client then cannot know that refreshing would
help. An access token whose signature is good but whose ``exp`` has passed is ``token_expired``
(PyJWT checks the signature before the claims, so a forged token never reaches that branch).
"""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings

from pylon.core.exceptions import ErrorCode


class AccessTokenExpired(InvalidToken):
    default_detail = "The access token has expired; get a new one at POST /api/v1/auth/token/refresh/."
    default_code = ErrorCode.TOKEN_EXPIRED


class ApiKeyNotValid(AuthenticationFailed):
    default_detail = "The API key is malformed, unknown or revoked."
    default_code = ErrorCode.API_KEY_NOT_VALID


class ApiKeyExpired(AuthenticationFailed):
    default_detail = "The API key has expired; an operator of the organisation can create a new one."
    default_code = ErrorCode.API_KEY_EXPIRED


class StreamTicketNotValid(AuthenticationFailed):
    default_detail = (
        "The stream ticket is unknown, expired or already used; get a new one at POST /api/v1/events/stream-tickets/."
    )
    default_code = ErrorCode.STREAM_TICKET_NOT_VALID


class JWTAuthentication(authentication.JWTAuthentication):
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
