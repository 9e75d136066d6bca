from pathlib import Path
from urllib.parse import unquote_to_bytes

from django.http import JsonResponse
from whitenoise.middleware import WhiteNoiseMiddleware

from pylon.api.exceptions import error_body
from pylon.core.exceptions import ErrorCode


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
