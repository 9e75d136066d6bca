"""OpenAPI generation: every operation documents the errors it can answer with, in one shape, and
request components describe exactly what the server accepts (SDK generators take them literally)."""

import json
from decimal import Decimal

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from pylon.api.permissions import key_scope_for
from pylon.api.serializers import ErrorSerializer, StrictInputMixin
from pylon.api.throttling import LIMIT_HEADERS
from pylon.idempotency import policy as idempotency

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=idempotency.HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "A unique key (a UUID v4) that makes retrying this request safe: for 24 hours, the same key "
        "with the same body returns the first response again, marked `Idempotent-Replayed: true`, "
        "and does nothing twice. The same key with another body is a 422 `idempotency_key_reused`; "
        "while the first request is still running, a 409 `idempotency_key_in_use`. Keys are per user."
    ),
)


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


API_KEY_SCHEME = "apiKeyAuth"


class PylonAutoSchema(AutoSchema):
    def _key_scope(self) -> str | None:
        return key_scope_for(self.view, self.method)

    def get_auth(self):
        # An operation that refuses API keys does not offer them to generated clients.
        auth = super().get_auth()
        if self._key_scope() is None:
            auth = [entry for entry in auth if API_KEY_SCHEME not in entry]
        return auth

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        scope = self._key_scope()
        if operation is not None and scope is not None and operation.get("security"):
            said = f"API keys need the scope `{scope}`."
            description = operation.get("description")
            operation["description"] = f"{description}\n\n{said}" if description else said
        return operation

    def _takes_idempotency_key(self) -> bool:
        return idempotency.applies_to(type(self.view), self.method)

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self._takes_idempotency_key():
            parameters = [*parameters, IDEMPOTENCY_KEY_PARAMETER]
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self._error_statuses():
            if code not in responses:
                # Errors are JSON whatever the operation's success body is (a CSV download's too).
                responses[code] = self._get_response_for_code(
                    error_response(description), code, media_types=["application/json"], direction=direction
                )
        return responses

    def _error_statuses(self) -> list[tuple[str, str]]:
        view = self.view
        if getattr(view, "pylon_callback_receiver", False):  # a callback: the receiver's answers, not ours
            return []
        # Any request can be malformed (a NUL byte in the URL, a bad query parameter or body).
        errors: list[tuple[str, str]] = [
            ("400", "The request or its parameters are invalid (`validation_error`, `parse_error`).")
        ]
        public = any(isinstance(p, AllowAny) for p in view.get_permissions())
        if not public:
            errors.append(
                (
                    "401",
                    "No valid credentials: `not_authenticated` (none sent), `token_expired` (refresh it at "
                    "`POST /api/v1/auth/token/refresh/`), `token_not_valid` (forged, revoked or malformed), "
                    "`api_key_not_valid` (malformed, unknown or revoked key), `api_key_expired`.",
                )
            )
            errors.append(("403", "The caller's role, or the API key's scopes, may not do this (`permission_denied`)."))
        if "{" in self.path:
            errors.append(("404", "No such object, or not one the caller may see (`not_found`)."))
        elif self._is_list_view() and self._get_paginator():
            errors.append(("404", "The page number is past the last page (`not_found`)."))
        if self.method in ("POST", "PUT", "PATCH"):
            errors.append(("413", "The request body is too large (`payload_too_large`)."))
            errors.append(("415", "The body is not `application/json` (`unsupported_media_type`)."))
        errors.append(("414", "The URL is longer than the server accepts (`uri_too_long`)."))
        if self._takes_idempotency_key():
            errors.append(("409", "A request with this `Idempotency-Key` is still running (`idempotency_key_in_use`)."))
            errors.append(("422", "The `Idempotency-Key` was used with another request (`idempotency_key_reused`)."))
        if view.get_throttles():
            errors.append(("429", "Too many requests; see the `Retry-After` header (`throttled`)."))
        # Any request can meet a database outage: retry after the `Retry-After` header's seconds.
        errors.append(("503", "The database is unavailable; retry after `Retry-After` seconds (`service_unavailable`)"))
        return errors

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(serializer, StrictInputMixin):
            schema["additionalProperties"] = False  # unknown keys are a 400 (StrictInputMixin)
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "response" and schema.get("properties") and not getattr(serializer, "sparse", False):
            # A serializer writes every field it declares, optional or not on input: a generated client
            # should not make the caller test for presence. (The suite validates every response it sees
            # against these lists, so a field that can be absent fails a test.) A ``sparse`` one
            # documents a message whose optional fields appear only where they apply (webhooks).
            schema["required"] = sorted(schema["properties"])
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        places = getattr(field, "decimal_places", None)
        decimal = isinstance(field, serializers.DecimalField) and places is not None
        if direction == "request" and decimal and schema.get("type") == "number":
            # The server refuses more places than it stores; say so, so a client rounds first.
            schema["multipleOf"] = float(f"1e-{places}")
        return schema

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if direction == "request" and "default" in meta:
            # A request `default:` makes generators send the value (a PATCH then overwrites the stored
            # one) or mark the field required (openapi-typescript). Say it in words instead.
            default = meta.pop("default")
            if not getattr(field.parent, "partial", False):
                shown = str(default) if isinstance(default, (str, Decimal)) else json.dumps(default)
                said = f"Default when omitted: `{shown}`."
                meta["description"] = f"{meta['description']} {said}" if meta.get("description") else said
        if direction == "request" and isinstance(field, serializers.DecimalField) and field.decimal_places:
            said = f"At most {field.decimal_places} decimal places."
            meta["description"] = f"{meta['description']} {said}" if meta.get("description") else said
        return meta


def _query_parameters(result):
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    yield parameter


def document_repeated_query_arrays(result, generator, request, public):
    """Multi-value query parameters are sent repeated (``?status=A&status=B``), OpenAPI's default
    ``explode: true`` that every generator supports; the server also takes ``?status=A,B``."""
    for parameter in _query_parameters(result):
        if parameter.get("schema", {}).get("type") == "array":
            parameter["style"] = "form"
            parameter["explode"] = True
    return result


#: Keys an enum query parameter's schema may carry besides its values; ``minLength`` (a ChoiceField's)
#: says nothing an enum does not.
_ENUM_KEYS = {"type", "enum", "minLength"}


def reference_named_enums_in_parameters(result, generator, request, public):
    """A query parameter whose values are a named enum's (``?status=``: ``WorkloadStatusEnum``) refers
    to that component, so a generated client has one type for a status, not one per parameter
    (``WorkloadsListStatusItem``). A list of values stays an array of it. Runs after drf-spectacular's
    enum hook has named the components; a set of values two components share stays inline."""
    named: dict[tuple, list[str]] = {}
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if "enum" in component and set(component) <= {"type", "enum", "description"}:
            named.setdefault((component.get("type"), frozenset(component["enum"])), []).append(name)
    for parameter in _query_parameters(result):
        schema = parameter.get("schema", {})
        holder, key = (schema, "items") if schema.get("type") == "array" else (parameter, "schema")
        values = holder.get(key, {})
        names = named.get((values.get("type"), frozenset(values.get("enum", ()))), [])
        if "enum" in values and len(names) == 1 and set(values) <= _ENUM_KEYS:
            holder[key] = {"$ref": f"#/components/schemas/{names[0]}"}
    return result


def lib_doc_excludes():
    """drf-spectacular's barrier classes plus the project's view bases: an operation is described by
    its own view's docstring (or its action's), never by a base's, which describes the machinery."""
    from drf_spectacular.plumbing import get_lib_doc_excludes

    from pylon.api import viewsets

    bases = [viewsets.WritesInTransaction, viewsets.ScopedViewSetMixin, viewsets.ScopedAPIView, viewsets.PublicAPIView]
    return [*get_lib_doc_excludes(), *bases, viewsets.ScopedReadOnlyViewSet, viewsets.ScopedGenericViewSet]


POLLING_HEADERS = {
    "ETag": {
        "description": "A hash of the body. Send it back as `If-None-Match` to get a 304 with no body while "
        "nothing changed.",
        "schema": {"type": "string"},
    },
    "RateLimit-Limit": {
        "description": "Requests allowed per window to this caller (a person: per user; an API key: per key).",
        "schema": {"type": "integer"},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer"},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the oldest counted request leaves the window.",
        "schema": {"type": "integer"},
    },
}
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": "The `ETag` of the copy the caller holds: if the answer is the same, a 304 with no body.",
}


def _header_refs(names) -> dict:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def document_polling_headers(result, generator, request, public):
    """Cheap polling, on every operation: ``RateLimit-*`` on the answers to signed-in callers, and on
    every GET an ``ETag`` and ``If-None-Match`` → 304 (``pylon.middleware.ConditionalGetMiddleware``)."""
    result.setdefault("components", {})["headers"] = POLLING_HEADERS
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.get("responses", {})
            signed_in = any(entry for entry in operation.get("security", [{}]))
            limit_headers = _header_refs(LIMIT_HEADERS) if signed_in else {}
            for code, response in responses.items():
                if limit_headers and (code.startswith("2") or code == "429"):
                    response.setdefault("headers", {}).update(limit_headers)
            # Streamed (a download, the event stream): no ETag.
            streamed = bool({"text/csv", "text/event-stream"} & set(responses.get("200", {}).get("content", {})))
            if method == "get" and "200" in responses and not streamed:
                responses["200"].setdefault("headers", {}).update(_header_refs(["ETag"]))
                operation.setdefault("parameters", []).append(IF_NONE_MATCH)
                responses["304"] = {
                    "description": "Not modified: the `If-None-Match` sent is the current `ETag`; no body.",
                    "headers": _header_refs(["ETag", *LIMIT_HEADERS] if signed_in else ["ETag"]),
                }
                operation["responses"] = dict(sorted(responses.items()))
    return result
