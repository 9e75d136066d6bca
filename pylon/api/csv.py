"""Streaming CSV for downloads: UTF-8, a header row, formula injection neutralised (OWASP's CSV
Injection advice): a text cell that a spreadsheet would read as a formula — one that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return — is written with a leading ``'``, which
spreadsheets show as text. Numbers Pylon formats itself (decimals, integers) are written as numbers so
that they still add up; only text that came from people can carry a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation

from pylon.api.renderers import ORJSONRenderer

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Bytes gathered before a chunk is handed to the server: few writes, bounded memory.
CHUNK_BYTES = 64 * 1024


def csv_cell(value) -> str | int | Decimal:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return value
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_stream(header: Iterable[str], rows: Iterable[Iterable]) -> Iterator[bytes]:
    """The header, then the rows, encoded, in chunks of about ``CHUNK_BYTES``. Rows are pulled one
    at a time, so memory holds one chunk whatever the number of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def csv_response(*, filename: str, header: Iterable[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    """A CSV download (an attachment) of ``rows`` under ``header``, streamed."""
    response = StreamingHttpResponse(csv_stream(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class CSVDownloadNegotiation(BaseContentNegotiation):
    """For a view (or action) that only downloads CSV, which it writes itself: anything else it
    answers (its errors) is JSON in the one error format, whatever ``Accept`` or ``?format=`` say.
    The one home of that rule for every download; a download that takes ``?format=`` checks it as
    an input (``CSVFormatQuerySerializer``)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return ORJSONRenderer(), ORJSONRenderer.media_type

    def select_parser(self, request, parsers):
        return None


UNKNOWN_FORMAT = "Unknown format: this endpoint offers `csv`."


class CSVFormatQuerySerializer(serializers.Serializer):
    """``?format=csv`` (or none): what a CSV download accepts."""

    format = serializers.CharField(required=False, allow_blank=True)

    def validate_format(self, value: str) -> str:
        if value not in ("", "csv"):
            raise serializers.ValidationError(UNKNOWN_FORMAT, code="invalid")
        return value


def csv_schema_response(description: str) -> dict:
    """The ``responses`` entry of a CSV download for ``extend_schema``."""
    return {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=description)}
