"""Idempotency keys (Stripe's "Idempotent requests"): the first request with a key runs and its
response is stored; a retry with the same key and body within ``IDEMPOTENCY_KEY_TTL_HOURS`` gets
that response again; the same key with another body is a 422; a retry while the first is still
running is a 409. Keys belong to the caller: two users may use the same one.

The claim is committed before the request's own transaction starts (the middleware runs outside
``ATOMIC_REQUESTS``), so a concurrent request sees it at once; the unique ``(user, key)``
constraint decides which of two simultaneous first requests runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status

from pylon.core.exceptions import ApplicationError, ErrorCode
from pylon.idempotency.models import IdempotencyKey

#: The response headers a replay repeats (the body and status always are).
REPLAYED_HEADERS = ("Location",)


class IdempotencyKeyReused(ApplicationError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED


class IdempotencyKeyInUse(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = ErrorCode.IDEMPOTENCY_KEY_IN_USE


@dataclass(frozen=True)
class Claim:
    record: IdempotencyKey
    #: True when the key was used before: answer with the stored response, run nothing.
    replay: bool


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path with query, and the body — compared as
    JSON values when it is JSON, so key order and whitespace do not matter."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _expired_before(now: datetime) -> datetime:
    return now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


def idempotency_claim(*, user, key: str, method: str, path: str, fingerprint: str) -> Claim:
    now = timezone.now()
    # An expired key is a new key; a claim whose request died mid-flight (a killed worker) is given up.
    IdempotencyKey.objects.filter(user=user, key=key, created_at__lt=_expired_before(now)).delete()
    abandoned = now - timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS)
    IdempotencyKey.objects.filter(user=user, key=key, completed_at__isnull=True, created_at__lt=abandoned).delete()
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(
                user=user, key=key, method=method, path=path[:2048], request_fingerprint=fingerprint, created_at=now
            )
        return Claim(record=record, replay=False)
    except IntegrityError:
        record = IdempotencyKey.objects.filter(user=user, key=key).first()
    if record is None or record.completed_at is None:  # in flight (or released this instant: retry)
        if record is not None and record.request_fingerprint != fingerprint:
            raise _reused()
        raise IdempotencyKeyInUse(
            "A request with this Idempotency-Key is still being processed; retry after it has finished."
        )
    if record.request_fingerprint != fingerprint:
        raise _reused()
    return Claim(record=record, replay=True)


def _reused() -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        "This Idempotency-Key was used with a different request (method, path or body); use a new key."
    )


def idempotency_complete(*, record: IdempotencyKey, status_code: int, content_type: str, headers: dict, body: str):
    """Store the first request's response for replays."""
    record.completed_at = timezone.now()
    record.response_status = status_code
    record.response_content_type = content_type
    record.response_headers = {name: headers[name] for name in REPLAYED_HEADERS if name in headers}
    record.response_body = body
    record.save(
        update_fields=[
            "completed_at",
            "response_status",
            "response_content_type",
            "response_headers",
            "response_body",
        ]
    )


def idempotency_release(*, record: IdempotencyKey) -> None:
    """Forget a claim whose request did not finish with a storable answer, so a retry runs again."""
    IdempotencyKey.objects.filter(pk=record.pk, completed_at__isnull=True).delete()


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete keys older than the retention period; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=_expired_before(now or timezone.now())).delete()
    return deleted
