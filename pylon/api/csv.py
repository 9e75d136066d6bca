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
