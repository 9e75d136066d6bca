"""The errors services raise, and the codes the API answers with.

A service raises ``ApplicationError`` with an ``ErrorCode``; the HTTP layer (``pylon.api.exceptions``)
translates it into the one error body. Nothing here knows about requests or responses.
"""

from __future__ import annotations

from django.db import models
from rest_framework import status


class ErrorCode(models.TextChoices):
    VALIDATION_ERROR = "validation_error", "The request has invalid fields."
    PARSE_ERROR = "parse_error", "The request body could not be parsed."
    NOT_AUTHENTICATED = "not_authenticated", "Authentication credentials were not provided."
    AUTHENTICATION_FAILED = "authentication_failed", "The credentials are wrong."
    TOKEN_NOT_VALID = "token_not_valid", "The token is invalid or revoked."
    TOKEN_EXPIRED = "token_expired", "The access token has expired; refresh it."
    API_KEY_NOT_VALID = "api_key_not_valid", "The API key is malformed, unknown or revoked."
    API_KEY_EXPIRED = "api_key_expired", "The API key has expired."
    STREAM_TICKET_NOT_VALID = "stream_ticket_not_valid", "The stream ticket is unknown, expired or used."
    PERMISSION_DENIED = "permission_denied", "You may not do this."
    NOT_FOUND = "not_found", "Not found."
    METHOD_NOT_ALLOWED = "method_not_allowed", "Method not allowed."
    NOT_ACCEPTABLE = "not_acceptable", "The requested response format is not available."
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", "Unsupported media type."
    THROTTLED = "throttled", "Too many requests."
    TOO_MANY_STREAMS = "too_many_streams", "The caller has as many live streams open as allowed."
    CONFLICT = "conflict", "The request conflicts with the current state."
    INVALID_TRANSITION = "invalid_transition", "The workload cannot move to that status now."
    CONCURRENT_UPDATE = "concurrent_update", "Someone else changed this at the same time."
    NOT_EDITABLE = "not_editable", "The workload can no longer be changed."
    CAPACITY_EXCEEDED = "capacity_exceeded", "The zone cannot hold the workload for its whole run."
    PAYLOAD_TOO_LARGE = "payload_too_large", "The request body is too large."
    URI_TOO_LONG = "uri_too_long", "The URL is too long."
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused", "The Idempotency-Key was used with a different request."
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use", "A request with this Idempotency-Key is still running."
    EMAIL_NOT_VERIFIED = "email_not_verified", "Confirm your email address first."
    LAST_OPERATOR = "last_operator", "The organisation's last operator cannot stop being one."
    WEBHOOK_TARGET_REFUSED = "webhook_target_refused", "The webhook URL is not one Pylon may deliver to."
    SERVICE_UNAVAILABLE = "service_unavailable", "A service Pylon depends on is unavailable."
    SERVER_ERROR = "server_error", "Internal server error."


class ApplicationError(Exception):
    """A business-rule failure raised by a service, translated by ``exception_handler``."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code: str = ErrorCode.VALIDATION_ERROR

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields or {}
