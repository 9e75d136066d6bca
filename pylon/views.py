"""JSON answers for errors Django raises outside DRF, and the favicon (the health endpoints are in ``pylon.health``)."""

import logging
import sys

from django.http import HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.views.defaults import bad_request as html_bad_request
from django.views.defaults import page_not_found
from django.views.defaults import server_error as html_server_error

from pylon.api.exceptions import error_body
from pylon.core.exceptions import ErrorCode
from pylon.db.outage import database_unavailable
from pylon.middleware import database_unavailable_response

logger = logging.getLogger(__name__)


def _is_api(request) -> bool:
    return request.path.startswith(("/api/", "/healthz", "/livez"))


def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body(ErrorCode.NOT_FOUND, "No such endpoint."), status=404)
    return page_not_found(request, exception)


def bad_request(request, exception=None):
    """Django's own 400s (e.g. a body over DATA_UPLOAD_MAX_MEMORY_SIZE read outside DRF)."""
    if _is_api(request):
        return JsonResponse(error_body(ErrorCode.VALIDATION_ERROR, "Bad request."), status=400)
    return html_bad_request(request, exception)


def server_error(request):
    exc = sys.exc_info()[1]
    if database_unavailable(exc):  # raised by a middleware, outside the view (see DatabaseUnavailableMiddleware)
        return database_unavailable_response(request, exc)
    if _is_api(request):
        return JsonResponse(error_body(ErrorCode.SERVER_ERROR, "Internal server error."), status=500)
    return html_server_error(request)


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says: send them to the static icon."""
    return HttpResponseRedirect(static("console/favicon.svg"))
