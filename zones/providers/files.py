"""Parsers for recorded carbon-intensity CSV series.

Used by ``manage.py import_intensity``, demo data and benchmarks. The format
is detected from the header line:

* ``neso-national``: ``from,to,forecast,actual,index`` (NESO ``/intensity``).
* ``neso-regional``: ``from,regionid,forecast,<fuel>...``; the fuel columns
  (percent) become ``generation_mix``; the zone key is ``regionid``.
* ``electricitymaps``: hourly exports (``Datetime (UTC)``, ``Zone Id``,
  ``Carbon Intensity gCO₂eq/kWh (direct)``; header spellings vary in case
  and "(LCA)"/"(Life cycle)", so columns are matched loosely). The direct
  (operational) value goes to ``actual``; each hourly row becomes two
  half-hour readings.
* ``pylon``: ``period_start[,period_end][,zone],forecast,actual,price_gbp_per_kwh``
  (only ``period_start`` and one of ``forecast``/``actual`` are required).
  Its timestamps must carry a UTC offset; the other formats are UTC by
  definition, so naive timestamps there are read as UTC.

Parsing streams: one pass over the lines, each line checked and parsed on its
own, so a bad line is rejected with its line number and reason without
stopping the import. Rows are single physical lines (none of these formats
quotes newlines). NESO formats get an index band; others get none (the bands
are a GB calibration). Duplicate periods are not detected here: the importer
upserts.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from .bands import INDEX_BANDS, index_band
from .base import HALF_HOUR, IntensityReading, is_half_hour_aligned
from .neso import NATIONAL_ZONE_KEY, REGION_IDS

MAX_INTENSITY = 2000.0  # gCO2/kWh; the dirtiest grids are near 1,100: beyond is a unit error
MAX_ABS_PRICE = 100.0  # GBP/kWh; negative prices are real, so the bound is on magnitude
MAX_LINE_CHARS = 10_000  # real lines are < 300 chars; longer is corruption
MAX_REJECTIONS_KEPT = 1_000  # details kept per import; the count covers the rest


class CsvFormat(StrEnum):
    NESO_NATIONAL = "neso-national"
    NESO_REGIONAL = "neso-regional"
    ELECTRICITYMAPS = "electricitymaps"
    PYLON = "pylon"


class CsvFormatError(ValueError):
    """The file as a whole cannot be imported (unknown header, no zone given, empty file)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int  # 1-based physical line number; the header is line 1
    reason: str


@dataclass
class ImportReport:
    """Counts and rejections, updated while ``iter_csv_readings`` is consumed."""

    format: CsvFormat | None = None
    rows_read: int = 0  # non-blank data lines, accepted or not
    rows_rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)  # first MAX_REJECTIONS_KEPT

    def reject(self, line: int, reason: str) -> None:
        self.rows_rejected += 1
        if len(self.rejections) < MAX_REJECTIONS_KEPT:
            self.rejections.append(Rejection(line, reason))


@dataclass
class ParseResult(ImportReport):
    readings: list[IntensityReading] = field(default_factory=list)


def parse_csv(source: str | os.PathLike[str] | Iterable[str], *, zone: str | None = None) -> ParseResult:
    """Parse a whole file (a path; a ``str`` is a path) or an iterable of lines into memory.

    ``zone`` (the ``--zone CODE`` option) overrides or fills the zone column.
    """
    result = ParseResult()
    if isinstance(source, str | os.PathLike):
        # utf-8-sig drops a BOM; "replace" turns a stray bad byte into a rejected
        # line instead of aborting the whole file.
        with open(source, encoding="utf-8-sig", errors="replace", newline="") as lines:
            result.readings = list(iter_csv_readings(lines, result, zone=zone))
    else:
        result.readings = list(iter_csv_readings(source, result, zone=zone))
    return result


def iter_csv_readings(
    lines: Iterable[str], report: ImportReport, *, zone: str | None = None
) -> Iterator[IntensityReading]:
    """Yield readings line by line, recording the format, counts and rejections in ``report``.

    Raises CsvFormatError before yielding anything if the header is not recognised.
    """
    numbered = ((number, line) for number, line in enumerate(lines, start=1) if line.strip())
    try:
        _, header_line = next(numbered)
    except StopIteration:
        raise CsvFormatError("the file is empty") from None
    try:
        header = _split(header_line)
    except _Rejected as exc:
        raise CsvFormatError(f"unreadable header: {exc}") from None
    layout = _detect(header, zone)
    report.format = layout.format
    for number, line in numbered:
        report.rows_read += 1
        try:
            readings = _parse_row(layout, _split(line, expected=len(header)))
        except _Rejected as exc:
            report.reject(number, str(exc))
            continue
        yield from readings


class _Rejected(Exception):
    """One line is unusable; the message is the reason recorded for it."""


@dataclass(frozen=True)
class _Layout:
    """Where each value lives in a detected format, and how to interpret it."""

    format: CsvFormat
    columns: dict[str, int]  # canonical name ("start", "end", "zone", ...) -> field index
    fuels: dict[str, int]  # generation-mix fuel -> field index
    fixed_zone: str | None  # --zone, or the national key; wins over a zone column
    naive_is_utc: bool
    hourly: bool  # one row covers an hour: emit two half-hour readings
    gb_bands: bool  # compute/validate the NESO index band


def _detect(header: list[str], zone: str | None) -> _Layout:
    names = [name.strip().lower() for name in header]
    for detector in (_neso_regional, _neso_national, _electricitymaps, _pylon):
        layout = detector(header, names, zone)
        if layout is not None:
            return layout
    raise CsvFormatError(f"unrecognised header: {','.join(header)[:200]}")


def _neso_regional(header: list[str], names: list[str], zone: str | None) -> _Layout | None:
    keys = {"start": "from", "zone": "regionid", "forecast": "forecast"}
    if not set(keys.values()) <= set(names):
        return None
    fuels = {header[i].strip(): i for i, name in enumerate(names) if name not in keys.values()}
    return _Layout(
        CsvFormat.NESO_REGIONAL,
        _positions(names, keys),
        fuels,
        zone,
        naive_is_utc=True,
        hourly=False,
        gb_bands=True,
    )


def _neso_national(header: list[str], names: list[str], zone: str | None) -> _Layout | None:
    if not {"from", "to", "forecast"} <= set(names):
        return None
    keys = {"start": "from", "end": "to", "forecast": "forecast", "actual": "actual", "index": "index"}
    return _Layout(
        CsvFormat.NESO_NATIONAL,
        _positions(names, keys),
        {},
        zone or NATIONAL_ZONE_KEY,
        naive_is_utc=True,
        hourly=False,
        gb_bands=True,
    )


def _electricitymaps(header: list[str], names: list[str], zone: str | None) -> _Layout | None:
    # Exports spell it "Carbon Intensity gCO₂eq/kWh (direct)" or "Carbon intensity ...".
    direct = next((n for n in names if n.startswith("carbon intensity") and n.endswith("(direct)")), None)
    if direct is None or not {"datetime (utc)", "zone id"} <= set(names):
        return None
    keys = {"start": "datetime (utc)", "zone": "zone id", "actual": direct}
    return _Layout(
        CsvFormat.ELECTRICITYMAPS,
        _positions(names, keys),
        {},
        zone,
        naive_is_utc=True,
        hourly=True,
        gb_bands=False,
    )


def _pylon(header: list[str], names: list[str], zone: str | None) -> _Layout | None:
    if "period_start" not in names or not {"forecast", "actual"} & set(names):
        return None
    if zone is None and "zone" not in names:
        raise CsvFormatError("the file has no zone column: pass the zone key")
    keys = {
        "start": "period_start",
        "end": "period_end",
        "zone": "zone",
        "forecast": "forecast",
        "actual": "actual",
        "price": "price_gbp_per_kwh",
    }
    return _Layout(
        CsvFormat.PYLON,
        _positions(names, keys),
        {},
        zone,
        naive_is_utc=False,
        hourly=False,
        gb_bands=False,
    )


def _positions(names: list[str], keys: dict[str, str]) -> dict[str, int]:
    """Canonical key -> field index for the header names present (first occurrence wins)."""
    return {key: names.index(name) for key, name in keys.items() if name in names}


def _split(line: str, expected: int | None = None) -> list[str]:
    """The fields of one physical line, or _Rejected if the line itself is damaged."""
    if "\x00" in line:
        raise _Rejected("NUL byte")
    if len(line) > MAX_LINE_CHARS:
        raise _Rejected(f"line longer than {MAX_LINE_CHARS} characters")
    try:
        fields = next(csv.reader([line]))
    except csv.Error as exc:
        raise _Rejected(f"malformed CSV: {exc}") from None
    if expected is not None and len(fields) != expected:
        raise _Rejected(f"expected {expected} fields, found {len(fields)}")
    return fields


def _parse_row(layout: _Layout, fields: list[str]) -> list[IntensityReading]:
    def cell(name: str) -> str:
        position = layout.columns.get(name)
        return "" if position is None else fields[position].strip()

    start = _timestamp(cell("start"), layout.naive_is_utc)
    end = start + HALF_HOUR
    if cell("end") and _timestamp(cell("end"), layout.naive_is_utc) != end:
        raise _Rejected("period is not 30 minutes long")
    forecast = _intensity(cell("forecast"), "forecast")
    actual = _intensity(cell("actual"), "actual")
    if forecast is None and actual is None:
        raise _Rejected("no intensity value")
    intensity = actual if actual is not None else forecast
    reading = IntensityReading(
        zone_key=_zone(layout, cell("zone")),
        period_start=start,
        period_end=end,
        forecast=forecast,
        actual=actual,
        index=_index(cell("index"), intensity, start) if layout.gb_bands else None,
        generation_mix=_generation_mix(layout, fields),
        price_gbp_per_kwh=_price(cell("price")),
        source=f"csv:{layout.format}",
    )
    if not layout.hourly:
        return [reading]
    return [reading, replace(reading, period_start=end, period_end=end + HALF_HOUR)]


def _timestamp(text: str, naive_is_utc: bool) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _Rejected(f"unparseable timestamp {text[:40]!r}") from None
    if value.tzinfo is None:
        if not naive_is_utc:
            raise _Rejected(f"timestamp {text!r} has no UTC offset")
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if not is_half_hour_aligned(value):
        raise _Rejected("period not aligned to :00/:30")
    return value


def _number(text: str, what: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _Rejected(f"unparseable {what} {text[:40]!r}") from None
    if not math.isfinite(value):
        raise _Rejected(f"unparseable {what} {text[:40]!r}")
    return value


def _intensity(text: str, what: str) -> float | None:
    value = _number(text, what)
    if value is None:
        return None
    if value < 0:
        raise _Rejected(f"negative intensity in {what}")
    if value > MAX_INTENSITY:
        raise _Rejected(f"value too large: {what} {value:g} > {MAX_INTENSITY:g} gCO2/kWh")
    return value


def _price(text: str) -> float | None:
    value = _number(text, "price")
    if value is not None and abs(value) > MAX_ABS_PRICE:
        raise _Rejected(f"value too large: price {value:g} GBP/kWh")
    return value


def _zone(layout: _Layout, text: str) -> str:
    if layout.fixed_zone is not None:
        return layout.fixed_zone
    if not text:
        raise _Rejected("missing zone")
    if layout.format is CsvFormat.NESO_REGIONAL and text not in REGION_IDS:
        raise _Rejected(f"unknown region id {text[:20]!r}")
    return text


def _index(text: str, intensity: float, start: datetime) -> str:
    """The recorded band if valid, else the band computed for the period's year."""
    return text if text in INDEX_BANDS else str(index_band(intensity, start))


def _generation_mix(layout: _Layout, fields: list[str]) -> dict[str, float] | None:
    mix = {}
    for fuel, position in layout.fuels.items():
        value = _number(fields[position].strip(), f"{fuel} percentage")
        if value is None:
            continue
        if not 0 <= value <= 100:
            raise _Rejected(f"{fuel} percentage {value:g} out of 0-100")
        mix[fuel] = value
    return mix or None
