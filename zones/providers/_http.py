"""JSON-over-HTTP plumbing shared by the provider clients.

Its one job is to turn every way a GET can go wrong into a
TransientProviderError (retry later) or a PermanentProviderError (don't), so
the provider modules only deal with payload shapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests

from .base import PermanentProviderError, ProviderError, TransientProviderError

# (connect, read) seconds. Connect is short so a dead host fails fast; read
# allows for NESO's 48h regional payload (~18 regions x 96 periods).
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 15.0)

# Sent on every request. "Content-Type": None strips the header even if a
# caller-supplied Session sets one: the NESO API answers 400 "Unsupported
# Media Type" to any request carrying it.
_BASE_HEADERS: dict[str, str | None] = {
    "Accept": "application/json",
    "Content-Type": None,
}

_TRANSIENT_TRANSPORT_ERRORS = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

_MAX_MESSAGE_CHARS = 300


class JsonHttpClient:
    """GETs JSON from one API base URL with explicit timeouts and error mapping."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    def get(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Any:
        """The decoded JSON body of ``GET base_url + path``; raises ProviderError subclasses."""
        url = self.base_url + path
        if params:
            # Error messages name the query too: it holds the zone/region asked for.
            path = f"{path}?{urlencode(params)}"
        try:
            response = self.session.get(
                url,
                params=params,
                headers={**_BASE_HEADERS, **(headers or {})},
                auth=auth,
                timeout=self.timeout,
            )
        except _TRANSIENT_TRANSPORT_ERRORS as exc:
            raise self._error(TransientProviderError, f"GET {path} failed: {exc}") from exc
        except requests.RequestException as exc:  # invalid URL, redirect loop, ...
            raise self._error(PermanentProviderError, f"GET {path} failed: {exc}") from exc
        return self._decode(path, response)

    def _decode(self, path: str, response: requests.Response) -> Any:
        status = response.status_code
        if status == 429 or status >= 500:
            raise self._error(
                TransientProviderError,
                f"GET {path}: HTTP {status} {_describe(response)}",
                status,
            )
        if status >= 400:
            raise self._error(
                PermanentProviderError,
                f"GET {path}: HTTP {status} {_describe(response)}",
                status,
            )
        if not response.content.strip():
            raise self._error(TransientProviderError, f"GET {path}: empty body", status)
        try:
            payload = response.json()
        except ValueError as exc:
            raise self._error(PermanentProviderError, f"GET {path}: malformed JSON: {exc}", status) from exc
        if payload == {}:
            # Seen on NESO regional endpoints during incidents; a later call succeeds.
            raise self._error(TransientProviderError, f"GET {path}: empty body {{}}", status)
        if isinstance(payload, dict) and "error" in payload:
            raise self._payload_error(path, payload["error"], status)
        return payload

    def _payload_error(self, path: str, error: object, status: int) -> ProviderError:
        """An ``{"error": ...}`` body returned with a 2xx status, classified by its own code."""
        code = str(error.get("code", "")) if isinstance(error, dict) else ""
        kind = TransientProviderError if code.startswith(("5", "429")) else PermanentProviderError
        return self._error(kind, f"GET {path}: API error {_short(error)}", status)

    def _error(self, kind: type[ProviderError], message: str, status: int | None = None) -> ProviderError:
        return kind(f"{self.provider}: {message}", provider=self.provider, status=status)


def _describe(response: requests.Response) -> str:
    """The API's own error message if the body carries one, else a snippet of the body."""
    try:
        payload = response.json()
    except ValueError:
        return _short(response.text)
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("message", payload))
        if isinstance(error, dict) and "message" in error:
            return _short(error["message"])
        return _short(error)
    return _short(payload)


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:_MAX_MESSAGE_CHARS]
