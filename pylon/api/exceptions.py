"""The one error format of the API, and the one place exceptions are translated into it.

Every error response is ``{"code": ..., "message": ..., "fields": {...}}``:
``code`` is a machine-readable ``ErrorCode``; ``message`` is a sentence for people; ``fields`` maps a
field path (``coordinates.lat``, ``items.0.name``) to the problems with that field, each with its own
code and message. Services raise ``ApplicationError`` (or Django's ``ValidationError``); views never
build error bodies themselves.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import set_rollback
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from pylon.api.authentication import AccessTokenExpired, ApiKeyExpired, ApiKeyNotValid, StreamTicketNotValid
from pylon.api.viewsets import WritesInTransaction
from pylon.core.exceptions import ApplicationError, ErrorCode
from pylon.db.outage import database_unavailable

# DRF's exception classes → our codes. Subclasses first: InvalidToken is an AuthenticationFailed.
_DRF_CODES: tuple[tuple[type[Exception], str], ...] = (
    (AccessTokenExpired, ErrorCode.TOKEN_EXPIRED),
    (ApiKeyExpired, ErrorCode.API_KEY_EXPIRED),
    (ApiKeyNotValid, ErrorCode.API_KEY_NOT_VALID),
    (StreamTicketNotValid, ErrorCode.STREAM_TICKET_NOT_VALID),
    (InvalidToken, ErrorCode.TOKEN_NOT_VALID),
    (drf_exceptions.ValidationError, ErrorCode.VALIDATION_ERROR),
    (drf_exceptions.ParseError, ErrorCode.PARSE_ERROR),
    (drf_exceptions.NotAuthenticated, ErrorCode.NOT_AUTHENTICATED),
    (drf_exceptions.AuthenticationFailed, ErrorCode.AUTHENTICATION_FAILED),
    (drf_exceptions.PermissionDenied, ErrorCode.PERMISSION_DENIED),
    (drf_exceptions.NotFound, ErrorCode.NOT_FOUND),
    (drf_exceptions.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED),
    (drf_exceptions.NotAcceptable, ErrorCode.NOT_ACCEPTABLE),
    (drf_exceptions.UnsupportedMediaType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (drf_exceptions.Throttled, ErrorCode.THROTTLED),
)


def error_body(code: str, message: str, fields: dict | None = None) -> dict[str, Any]:
    return {"code": str(code), "message": str(message), "fields": fields or {}}


DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable at the moment; retry shortly."


def database_unavailable_headers() -> dict[str, str]:
    return {"Retry-After": str(settings.DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS)}


def field_problems(detail: Any, prefix: str = "") -> dict[str, list[dict[str, str]]]:
    """Flatten DRF's nested error detail into ``{"a.b.0": [{"code", "message"}]}``."""
    problems: dict[str, list[dict[str, str]]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            for sub_path, items in field_problems(value, path).items():
                problems.setdefault(sub_path, []).extend(items)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            problems[prefix or "non_field_errors"] = [
                {"code": str(getattr(item, "code", "invalid") or "invalid"), "message": str(item)} for item in detail
            ]
        else:
            for index, item in enumerate(detail):
                if item:
                    path = f"{prefix}.{index}" if prefix else str(index)
                    problems.update(field_problems(item, path))
    else:
        code = str(getattr(detail, "code", "invalid") or "invalid")
        problems[prefix or "non_field_errors"] = [{"code": code, "message": str(detail)}]
    return problems


def _validation_message(fields: dict[str, list[dict[str, str]]]) -> str:
    if set(fields) == {"non_field_errors"}:
        return fields["non_field_errors"][0]["message"]
    names = ", ".join(sorted(fields))
    return f"Invalid input: {names}."


def _from_django_validation_error(exc: DjangoValidationError) -> drf_exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        detail = {
            ("non_field_errors" if name == "__all__" else name): [
                drf_exceptions.ErrorDetail(message, code=error.code or "invalid")
                for error in errors
                for message in error.messages
            ]
            for name, errors in exc.error_dict.items()
        }
    else:
        detail = [
            drf_exceptions.ErrorDetail(message, code=error.code or "invalid")
            for error in exc.error_list
            for message in error.messages
        ]
    return drf_exceptions.ValidationError(detail)


def _fallback_code(exc: drf_exceptions.APIException) -> str:
    if exc.default_code in ErrorCode.values:
        return exc.default_code
    if exc.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        return ErrorCode.SERVICE_UNAVAILABLE
    return ErrorCode.SERVER_ERROR if exc.status_code >= 500 else ErrorCode.VALIDATION_ERROR


def _roll_back(context: dict) -> None:
    """Undo the failed request's writes — when it has a transaction of its own. A read through the
    scoped bases runs in autocommit: there is nothing to undo, and marking the transaction it may run
    inside (a test's, a caller's) would break its owner."""
    request, view = context.get("request"), context.get("view")
    if isinstance(view, WritesInTransaction) and request is not None and request.method in SAFE_METHODS:
        return
    set_rollback()


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error the API returns leaves through here."""
    if isinstance(exc, ApplicationError):
        _roll_back(context)
        return Response(
            error_body(exc.code, exc.message, field_problems(exc.fields) if exc.fields else {}),
            status=exc.status_code,
        )
    if isinstance(exc, DjangoValidationError):
        exc = _from_django_validation_error(exc)
    elif isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        # Keep the service's sentence: it says why ("only an operator may cancel a running workload").
        exc = drf_exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        _roll_back(context)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            error_body(ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit} bytes."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    elif isinstance(exc, TokenError):
        exc = InvalidToken(str(exc))
    elif database_unavailable(exc):
        # An outage, not a bug: the client should retry (Django's own handler does the same for
        # failures outside DRF, e.g. opening the request's transaction: pylon.middleware).
        set_rollback()
        return Response(
            error_body(ErrorCode.SERVICE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers=database_unavailable_headers(),
        )

    if not isinstance(exc, drf_exceptions.APIException):
        return None  # a bug: Django's handler500 answers (see pylon.views.server_error)

    code = next((code for cls, code in _DRF_CODES if isinstance(exc, cls)), None)
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = f"{int(exc.wait)}"

    if isinstance(exc, drf_exceptions.ValidationError):
        fields = field_problems(exc.detail)
        body = error_body(ErrorCode.VALIDATION_ERROR, _validation_message(fields), fields)
    else:
        detail = exc.detail
        # simplejwt puts {"detail", "code", "messages"} in detail; the others a string.
        message = detail.get("detail", exc.default_detail) if isinstance(detail, dict) else detail
        body = error_body(code or _fallback_code(exc), message)

    _roll_back(context)
    return Response(body, status=exc.status_code, headers=headers)
