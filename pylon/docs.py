"""The API reference pages (Swagger UI, ReDoc), served with no request leaving the server.

drf-spectacular-sidecar ships the assets, but its ReDoc page links Google Fonts and the ReDoc bundle
loads its "API docs by Redocly" logo from cdn.redoc.ly. The page here links no fonts (ReDoc uses the
system font stacks: ``REDOC_UI_SETTINGS`` in the settings) and the bundle is served with that one
image replaced by an inline copy. Swagger UI's online validator badge is off (``SWAGGER_UI_SETTINGS``).
"""

from __future__ import annotations

import functools
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView

SIDECAR_REDOC = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
REMOTE_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
# A small neutral mark in place of the remote logo (the link text "API docs by Redocly" stays).
INLINE_LOGO = (
    b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
    b"%3Ccircle cx='8' cy='8' r='6' fill='%23888'/%3E%3C/svg%3E"
)


@functools.cache
def _redoc_bundle() -> bytes:
    bundle = Path(finders.find(SIDECAR_REDOC)).read_bytes()
    return bundle.replace(REMOTE_LOGO, INLINE_LOGO)


@require_GET
def redoc_bundle(request) -> HttpResponse:
    response = HttpResponse(_redoc_bundle(), content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response


class OfflineRedocView(SpectacularRedocView):
    template_name = "pylon/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response.data["redoc_standalone"] = reverse("redoc-bundle")
        return response
