import logging
from pathlib import Path
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.middleware import http
from whitenoise.middleware import WhiteNoiseMiddleware

from pylon.api.exceptions import DATABASE_UNAVAILABLE_MESSAGE, database_unavailable_headers, error_body
from pylon.api.throttling import LIMIT_HEADERS
from pylon.core.exceptions import ErrorCode
from pylon.db.outage import database_unavailable

logger = logging.getLogger(__name__)


def database_unavailable_response(request, exc: BaseException) -> HttpResponse:
    """503 with Retry-After: the one error body on API paths, plain text elsewhere (the admin)."""
    logger.error("database unavailable on %s %s: %s", request.method, request.path, exc)
    if request.path.startswith(("/api/", "/healthz", "/livez")):
        response = JsonResponse(error_body(ErrorCode.SERVICE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE), status=503)
    else:
        response = HttpResponse(DATABASE_UNAVAILABLE_MESSAGE, status=503, content_type="text/plain; charset=utf-8")
    for name, value in database_unavailable_headers().items():
        response[name] = value
    return response


class DatabaseUnavailableMiddleware:
    """Answers 503 when the database cannot be reached outside DRF's own handler: opening the
    request's transaction (``ATOMIC_REQUESTS``) happens before DRF runs, and admin views have no
    DRF at all. ``pylon.views.server_error`` catches what escapes other middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if database_unavailable(exception):
            return database_unavailable_response(request, exception)
        return None


class RejectNulBytesMiddleware:
    """A NUL byte in a path or query string is never meaningful; PostgreSQL cannot even store it.

    Rejecting it here, once, keeps every filter, search and lookup from turning it into a 500.
    Bodies are checked by the serializers' own NUL validators.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw_query = request.META.get("QUERY_STRING", "").encode("latin-1", "replace")
        if "\x00" in request.path or b"\x00" in unquote_to_bytes(raw_query):
            return JsonResponse(
                error_body(
                    ErrorCode.VALIDATION_ERROR,
                    "The URL contains a NUL character.",
                    {"url": [{"code": "null_characters_not_allowed", "message": "Remove the NUL character."}]},
                ),
                status=400,
            )
        return self.get_response(request)


class UriTooLongMiddleware:
    """A URL longer than ``MAX_URL_LENGTH`` is a 414 in the API's error shape.

    Gunicorn's own limit (``--limit-request-line``, its maximum 8190) is set above ours, so this
    handler answers first; only request lines past gunicorn's limit get its plain-text 414.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = len(request.get_full_path())
        if length > settings.MAX_URL_LENGTH:
            return JsonResponse(
                error_body(
                    ErrorCode.URI_TOO_LONG,
                    f"The URL has {length} characters; the most is {settings.MAX_URL_LENGTH}.",
                ),
                status=414,
            )
        return self.get_response(request)


def allowed_methods(view_func) -> set[str] | None:
    """The HTTP methods a DRF view answers (None for a view that is not DRF's)."""
    view_class = getattr(view_func, "cls", None)
    if view_class is None:
        return None
    names = set(view_class.http_method_names)
    actions = getattr(view_func, "actions", None)
    methods = set(actions) & names if actions else {m for m in names if hasattr(view_class, m)}
    methods |= {"options"} | ({"head"} if "get" in methods else set())
    return {method.upper() for method in methods}


class MethodNotAllowedMiddleware:
    """A method the endpoint does not have is a 405 for every caller, before authentication and
    permissions: DRF checks permissions first, so ``DELETE /zones/map/`` used to be a 403, telling a
    client its role was wrong when no role can do it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        allowed = allowed_methods(view_func)
        if allowed is None or request.method in allowed:
            return None
        response = JsonResponse(
            error_body(ErrorCode.METHOD_NOT_ALLOWED, f'Method "{request.method}" not allowed.'), status=405
        )
        response["Allow"] = ", ".join(sorted(allowed))
        return response


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, quiet about a ``STATIC_ROOT`` that ``collectstatic`` has not filled yet.

    ``make run`` serves straight from the apps' static folders (``WHITENOISE_USE_FINDERS``); only the
    image runs ``collectstatic``. Without this a fresh clone warns "No directory at: …/staticfiles/"
    on every start. With the finders off (the image), a missing folder is still reported.
    """

    def add_files(self, root, prefix=None):
        if self.use_finders and root == self.static_root and not Path(root).is_dir():
            return
        super().add_files(root, prefix)


class ChunkedBodyMiddleware:
    """Give a body sent chunked (``Transfer-Encoding: chunked``, no ``Content-Length``) its length.

    DRF parses nothing when ``CONTENT_LENGTH`` is missing, so such a body was read as empty. Under
    ASGI the server has already received the whole body into a seekable spooled file: its size is
    read from the file, without copying the body into memory (and without Django's in-memory
    limit, so an endpoint with a limit of its own, the batch upload, keeps it). Elsewhere the body
    is read (within ``DATA_UPLOAD_MAX_MEMORY_SIZE``).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if not meta.get("CONTENT_LENGTH") and "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
            stream = getattr(request, "_stream", None)  # Django's request body source
            if stream is not None and getattr(stream, "seekable", lambda: False)():
                size = stream.seek(0, 2)
                stream.seek(0)
            else:
                size = len(request.body)
            meta["CONTENT_LENGTH"] = str(size)
        return self.get_response(request)


class ConditionalGetMiddleware(http.ConditionalGetMiddleware):
    """Django's: every GET gets an ``ETag`` (a hash of the body) and ``If-None-Match`` with it is a
    304 with no body, so a dashboard polling every 10 s transfers nothing when nothing changed.
    Django builds the 304 afresh; the caller's ``RateLimit-*`` figures are carried over to it (a 304
    counts against the rate like any request)."""

    def process_response(self, request, response):
        answer = super().process_response(request, response)
        if answer is not response:
            for name in LIMIT_HEADERS:
                if response.has_header(name):
                    answer[name] = response[name]
        return answer
