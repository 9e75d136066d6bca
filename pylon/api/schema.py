"""OpenAPI generation: every operation documents the errors it can answer with, in one shape."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny

from pylon.api.serializers import ErrorSerializer


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


class PylonAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self._error_statuses():
            if code not in responses:
                responses[code] = self._get_response_for_code(error_response(description), code, direction=direction)
        return responses

    def _error_statuses(self) -> list[tuple[str, str]]:
        view = self.view
        # Any request can be malformed (a NUL byte in the URL, a bad query parameter or body).
        errors: list[tuple[str, str]] = [
            ("400", "The request or its parameters are invalid (`validation_error`, `parse_error`).")
        ]
        public = any(isinstance(p, AllowAny) for p in view.get_permissions())
        if not public:
            errors.append(("401", "No valid access token (`not_authenticated`, `token_not_valid`)."))
            errors.append(("403", "The caller's role may not do this (`permission_denied`)."))
        if "{" in self.path:
            errors.append(("404", "No such object, or not one the caller may see (`not_found`)."))
        elif self._is_list_view() and self._get_paginator():
            errors.append(("404", "The page number is past the last page (`not_found`)."))
        if self.method in ("POST", "PUT", "PATCH"):
            errors.append(("413", "The request body is too large (`payload_too_large`)."))
        if view.get_throttles():
            errors.append(("429", "Too many requests; see the `Retry-After` header (`throttled`)."))
        return errors
