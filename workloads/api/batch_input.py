"""Reading a batch upload into numbered rows: a JSON array of submit forms, or a CSV file (a
``text/csv`` body, or the multipart field ``file``) whose header uses the submit form's field names.

A file that cannot be read as a table — not UTF-8, bad quoting, ragged rows, unknown or duplicate
columns, no rows, too many rows — is refused as a whole with a 400 naming ``file``; nothing is
saved. A readable file's rows are then checked one by one (``check_rows``), each exactly as a
single submission is. A UTF-8 byte-order mark and Windows line ends (what spreadsheets write) are
read like any other file; an empty cell means "not given" (the field's default applies).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import parsers
from rest_framework.exceptions import ErrorDetail
from rest_framework.exceptions import ValidationError as DRFValidationError

from accounts.models import User
from pylon.api.exceptions import field_problems
from pylon.api.parsers import JSONDocumentParser
from pylon.core.exceptions import ApplicationError, ErrorCode
from workloads.api.serializers import BatchUploadFileSerializer, BatchWorkloadRowSerializer
from workloads.batch import RowError
from zones import selectors as zone_selectors
from zones.models import GridZone

CSV_MEDIA_TYPE = "text/csv"
FILE_FIELD = "file"


class PayloadTooLarge(ApplicationError):
    status_code = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class BatchFileError(ApplicationError):
    """The upload as a whole cannot be read; ``where`` names the part at fault (``file`` or ``rows``)."""

    def __init__(self, message: str, *, where: str = FILE_FIELD, code: str = "invalid"):
        super().__init__(message, fields={where: [ErrorDetail(message, code=code)]})


def _read_limited(stream) -> bytes:
    limit = settings.BATCH_UPLOAD_MAX_BYTES
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise PayloadTooLarge(f"A batch may be at most {limit} bytes.")
    return data


class BatchJSONParser(parsers.BaseParser):
    """The project's JSON parser (of any document: the batch is an array) behind the batch's own size
    limit. Not a JSONParser subclass: DRF reads such a parser's body through ``request.body``, capped
    at ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (1 MB), and 5,000 rows are larger."""

    media_type = JSONDocumentParser.media_type

    def parse(self, stream, media_type=None, parser_context=None):
        return JSONDocumentParser().parse(io.BytesIO(_read_limited(stream)), media_type, parser_context)


class CSVBody(bytes):
    """A ``text/csv`` request body, undecoded."""


class CSVParser(parsers.BaseParser):
    media_type = CSV_MEDIA_TYPE

    def parse(self, stream, media_type=None, parser_context=None):
        return CSVBody(_read_limited(stream))


def batch_rows(request) -> list[tuple[int, Any]]:
    """The rows of the upload, numbered from 1, or a BatchFileError."""
    media_type = request.content_type.split(";")[0].strip().lower()
    if media_type == CSV_MEDIA_TYPE:
        return csv_rows(bytes(request.data) if isinstance(request.data, CSVBody) else b"")
    if media_type == "multipart/form-data":
        form = BatchUploadFileSerializer(data=request.data)  # the one field `file`, nothing else
        form.is_valid(raise_exception=True)
        upload = form.validated_data[FILE_FIELD]
        if upload.size > settings.BATCH_UPLOAD_MAX_BYTES:
            raise PayloadTooLarge(f"A batch may be at most {settings.BATCH_UPLOAD_MAX_BYTES} bytes.")
        return csv_rows(upload.read())
    if isinstance(request.data, list):
        return json_rows(request.data)
    raise BatchFileError(
        f"Send a JSON array of workloads, a CSV body ({CSV_MEDIA_TYPE}) or a CSV file in the multipart field "
        f"`{FILE_FIELD}`.",
        where="non_field_errors",
    )


def _check_count(count: int, where: str) -> None:
    if count == 0:
        raise BatchFileError("The batch holds no rows.", where=where, code="empty")
    if count > settings.BATCH_UPLOAD_MAX_ROWS:
        raise BatchFileError(
            f"A batch may hold at most {settings.BATCH_UPLOAD_MAX_ROWS} rows.", where=where, code="max_rows"
        )


def json_rows(items: list) -> list[tuple[int, Any]]:
    _check_count(len(items), "non_field_errors")
    return list(enumerate(items, start=1))


def csv_rows(raw: bytes) -> list[tuple[int, dict[str, str]]]:
    """The data rows of a CSV file as ``{column: cell}`` (empty cells left out)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BatchFileError(
            f"The file is not UTF-8 text (byte {exc.start} is not valid); save it as CSV UTF-8.", code="encoding"
        )
    if "\x00" in text:
        raise BatchFileError("The file contains NUL characters; it is not a CSV file.", code="encoding")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    allowed = _columns()
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, and the empty rows spreadsheets leave at the end
            if header is None:
                header = _header(cells, allowed)
                continue
            if len(cells) != len(header):
                raise BatchFileError(
                    f"Line {reader.line_num} has {len(cells)} cells; the header has {len(header)}.", code="ragged"
                )
            if len(rows) == settings.BATCH_UPLOAD_MAX_ROWS:
                _check_count(len(rows) + 1, FILE_FIELD)
            rows.append(
                (len(rows) + 1, {name: cell.strip() for name, cell in zip(header, cells, strict=True) if cell.strip()})
            )
    except csv.Error as exc:
        raise BatchFileError(f"The file is not valid CSV near line {reader.line_num}: {exc}.", code="csv")
    if header is None:
        raise BatchFileError("The file is empty: it needs a header row and at least one row.", code="empty")
    _check_count(len(rows), FILE_FIELD)
    return rows


def _columns() -> dict[str, bool]:
    """The columns a file may have (the submit form's fields) → whether each is required."""
    return {name: field.required for name, field in BatchWorkloadRowSerializer().fields.items() if not field.read_only}


def _header(cells: list[str], allowed: dict[str, bool]) -> list[str]:
    names = [cell.strip() for cell in cells]
    duplicate = sorted({name for name in names if names.count(name) > 1})
    if duplicate:
        raise BatchFileError(f"Duplicate columns: {', '.join(duplicate)}.", code="duplicate_column")
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise BatchFileError(
            f"Unknown columns: {', '.join(unknown) or '(an empty name)'}. Allowed: {', '.join(allowed)}.",
            code="unknown_column",
        )
    missing = [name for name, required in allowed.items() if required and name not in names]
    if missing:
        raise BatchFileError(f"Missing required columns: {', '.join(missing)}.", code="missing_column")
    return names


def check_rows(
    rows: Sequence[tuple[int, Any]], *, user: User
) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
    """Each row through the submit form's serializer (one instance, the zones looked up at once)."""
    references = [row.get("host_dc") for _, row in rows if isinstance(row, dict)]
    zones = zone_selectors.zones_by_reference(references=references, fetched_by=user)
    serializer = BatchWorkloadRowSerializer(context={"zones": zones})
    valid, errors = [], []
    for number, row in rows:
        try:
            valid.append((number, serializer.run_validation(row)))
        except DRFValidationError as exc:
            for name, problems in field_problems(exc.detail).items():
                errors.extend(RowError(number, name, problem["code"], problem["message"]) for problem in problems)
    return valid, errors


def template_row(*, zone: GridZone | None) -> dict[str, str]:
    """The template's columns with an example value each (``zone``'s code, when there is one)."""
    example = {
        "workload_name": "Nightly fine-tune",
        "workload_type": "FINE_TUNING",
        "urgency": "MEDIUM",
        "host_dc": zone.grid_zone_code if zone else "UK-LONDON-01",
        "required_gpu_mins": "240",
        "required_cpu_cores": "16",
        "required_memory_gb": "128",
        "estimated_energy_kwh": "42.5",
        "estimated_duration_mins": "",
        "carbon_cap_gco2": "",
        "max_price_gbp": "",
        "deferral_window_mins": "360",
        "deadline": (timezone.now() + timedelta(days=2)).replace(microsecond=0).isoformat(),
        "is_deferrable": "true",
    }
    return example
