"""``Idempotency-Key`` handling around the view (``services`` says what it means).

It is a middleware because it must run outside ``ATOMIC_REQUESTS``: the claim has to be committed
before the view's transaction starts, and the response stored after that transaction committed.
The caller is authenticated here with the view's own authentication classes (so a key is scoped to
the same user the view will see), once: the view reuses the result. A request that does not
authenticate is left to the view's 401.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from rest_framework.exceptions import APIException
from rest_framework.request import Request

from pylon.api.exceptions import error_body
from pylon.api.throttling import LIMIT_HEADERS
from pylon.core.exceptions import ApplicationError, ErrorCode
from pylon.idempotency import policy, services
from pylon.observability.metrics import idempotent_replays

logger = logging.getLogger(__name__)

_CLAIM = "_idempotency_claim"


def _error(exc: ApplicationError) -> JsonResponse:
    response = JsonResponse(error_body(exc.code, exc.message), status=exc.status_code)
    if exc.status_code == 409:
        response["Retry-After"] = "1"
    return response


def _caller(request, view_class):
    drf_request = Request(request, authenticators=[auth() for auth in view_class.authentication_classes])
    try:
        user = drf_request.user
    except APIException:
        return None
    if user is None or not user.is_authenticated:
        return None
    # The view takes this result instead of authenticating again (DRF's forced authentication).
    request._force_auth_user, request._force_auth_token = user, drf_request.auth
    return user


def _replay(record) -> HttpResponse:
    response = HttpResponse(
        record.response_body, status=record.response_status, content_type=record.response_content_type or None
    )
    for name, value in record.response_headers.items():
        response[name] = value
    response[policy.REPLAYED_HEADER] = "true"
    idempotent_replays.inc()
    return response


#: Answers given before anything ran (Stripe keeps no result for them): a retry, perhaps with the
#: body corrected, runs afresh. A 5xx says nothing about the request itself either.
_NOT_STORED = {400, 401, 429}


def _storable(response) -> bool:
    return not response.streaming and response.status_code < 500 and response.status_code not in _NOT_STORED


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        claim = getattr(request, _CLAIM, None)
        if claim is not None:
            try:
                self._finish(claim.record, response)
            except Exception:  # the view's work is done and committed: answer it regardless
                logger.exception("could not store the response of idempotency key %s", claim.record.key)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        key = request.headers.get(policy.HEADER)
        view_class = getattr(view_func, "cls", None)
        if key is None or not policy.applies_to(view_class, request.method):
            return None
        problem = policy.key_problem(key)
        if problem:
            return JsonResponse(
                error_body(
                    ErrorCode.VALIDATION_ERROR,
                    f"Invalid {policy.HEADER} header.",
                    {policy.HEADER: [{"code": "invalid", "message": problem}]},
                ),
                status=400,
            )
        user = _caller(request, view_class)
        if user is None:
            return None
        try:
            body = request.body
        except RequestDataTooBig:
            return None  # the view answers 413
        fingerprint = services.request_fingerprint(method=request.method, path=request.get_full_path(), body=body)
        try:
            claim = services.idempotency_claim(
                user=user, key=key, method=request.method, path=request.get_full_path(), fingerprint=fingerprint
            )
        except ApplicationError as exc:
            return _error(exc)
        if claim.replay:
            return _replay(claim.record)
        setattr(request, _CLAIM, claim)
        return None

    @staticmethod
    def _finish(record, response) -> None:
        if _storable(response):
            try:
                body = response.content.decode("utf-8")
            except UnicodeDecodeError:
                body = None
            if body is not None:
                services.idempotency_complete(
                    record=record,
                    status_code=response.status_code,
                    content_type=response.get("Content-Type", ""),
                    # The rate figures were the first request's: a replay must not report them as now.
                    headers={k: v for k, v in response.items() if k not in LIMIT_HEADERS},
                    body=body,
                )
                return
        services.idempotency_release(record=record)
