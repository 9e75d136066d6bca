"""CSV trace parsers: the real traces shipped in the repository, small bad files, and (when present) the full
shared traces (row counts from their README)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.zones.carbon_fixtures import FIXTURES_DIR, REPO_CARBON_DIR, SHARED_CARBON_DIR
from zones.providers.files import (
    MAX_REJECTIONS_KEPT,
    CsvFormat,
    CsvFormatError,
    ImportReport,
    iter_csv_readings,
    parse_csv,
)
from zones.providers.neso import NATIONAL_ZONE_KEY

NATIONAL = SHARED_CARBON_DIR / "neso_gb_national_2023H1.csv"
REGIONAL = SHARED_CARBON_DIR / "uk_regional" / "uk_regional_2023-03.csv"
EM_FILES = sorted((SHARED_CARBON_DIR / "electricitymaps").glob("*_hourly.csv"))
HALF_HOUR = timedelta(minutes=30)

needs_shared = pytest.mark.skipif(
    not SHARED_CARBON_DIR.is_dir(), reason="optional: the full shared traces are not beside this checkout"
)


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- real traces shipped in the repository ---------------------------------------


def test_neso_national_excerpt_in_the_apis_layout() -> None:
    result = parse_csv(FIXTURES_DIR / "neso_gb_national_2023-01-01.csv")
    assert result.format is CsvFormat.NESO_NATIONAL
    assert result.rows_read == len(result.readings) == 48 and result.rejections == []
    first = result.readings[0]
    assert first.zone_key == NATIONAL_ZONE_KEY
    assert first.period_start == datetime(2022, 12, 31, 23, 30, tzinfo=UTC)
    assert (first.forecast, first.actual, first.index) == (75.0, 65.0, "low")
    assert all(r.period_end - r.period_start == HALF_HOUR for r in result.readings)


def test_the_shipped_national_trace_is_pylons_layout_for_one_zone() -> None:
    result = parse_csv(REPO_CARBON_DIR / "neso_gb_national_2023H1.csv", zone="uk-national")
    assert result.format is CsvFormat.PYLON
    assert result.rows_read == len(result.readings) == 8689 and result.rejections == []
    assert (result.readings[0].forecast, result.readings[0].actual) == (75.0, 65.0)
    assert sum(r.actual is None for r in result.readings) == 5  # blank cells stay blank


def test_the_shipped_regional_trace_is_192_half_hours_by_14_regions() -> None:
    result = parse_csv(REPO_CARBON_DIR / "uk_regional_2023-03_dno.csv")
    assert result.format is CsvFormat.NESO_REGIONAL
    assert result.rows_read == len(result.readings) == 2688 == 192 * 14
    assert {r.zone_key for r in result.readings} == {str(i) for i in range(1, 15)}
    first = result.readings[0]
    assert first.zone_key == "1" and first.forecast == 0.0 and first.index == "very low"
    assert first.generation_mix is not None and first.generation_mix["wind"] == 92.0


@pytest.mark.parametrize(
    ("name", "zone", "first_actual"),
    [
        # GB_2021: "Zone name,Zone id,... (Life cycle)"; ES_2022: "Zone Name,Zone Id,... (LCA)".
        ("electricitymaps_GB_2021-01-01_hourly.csv", "GB", 156.05),
        ("electricitymaps_ES_2022-01-01_hourly.csv", "ES", 133.64),
    ],
)
def test_electricitymaps_excerpts_of_both_header_spellings(name: str, zone: str, first_actual: float) -> None:
    result = parse_csv(FIXTURES_DIR / name)
    assert result.format is CsvFormat.ELECTRICITYMAPS
    assert result.rows_read == 24 and result.rejections == [] and len(result.readings) == 48
    assert {r.zone_key for r in result.readings} == {zone}
    first, second = result.readings[:2]
    assert second.period_start == first.period_end == first.period_start + HALF_HOUR
    assert first.actual == second.actual == first_actual and first.forecast is None


# -- the full shared traces (optional extra) --------------------------------------


@needs_shared
def test_neso_national_trace() -> None:
    result = parse_csv(NATIONAL)
    assert result.format is CsvFormat.NESO_NATIONAL
    assert result.rows_read == len(result.readings) == 8689
    assert result.rejections == [] and result.rows_rejected == 0
    first = result.readings[0]
    assert first.zone_key == NATIONAL_ZONE_KEY
    assert first.period_start == datetime(2022, 12, 31, 23, 30, tzinfo=UTC)
    assert (first.forecast, first.actual, first.index) == (75.0, 65.0, "low")
    assert sum(r.actual is None for r in result.readings) == 5  # blank cells stay blank
    assert all(r.period_end - r.period_start == HALF_HOUR for r in result.readings)


@needs_shared
def test_neso_regional_trace_is_192_half_hours_by_18_regions() -> None:
    result = parse_csv(REGIONAL)
    assert result.format is CsvFormat.NESO_REGIONAL
    assert result.rows_read == len(result.readings) == 3456 == 192 * 18
    assert {r.zone_key for r in result.readings} == {str(i) for i in range(1, 19)}
    assert len({r.period_start for r in result.readings}) == 192
    first = result.readings[0]
    assert first.zone_key == "1" and first.forecast == 0.0 and first.index == "very low"
    assert first.generation_mix is not None and set(first.generation_mix) == {
        "biomass",
        "coal",
        "gas",
        "hydro",
        "imports",
        "nuclear",
        "other",
        "solar",
        "wind",
    }
    assert all(r.actual is None for r in result.readings)


@needs_shared
@pytest.mark.parametrize("path", EM_FILES, ids=lambda p: p.stem)
def test_electricitymaps_exports_split_hours_into_half_hours(path: Path) -> None:
    result = parse_csv(path)
    assert result.format is CsvFormat.ELECTRICITYMAPS
    assert result.rows_read == 8760 and result.rejections == []
    assert len(result.readings) == 17520
    zone = path.name.rsplit("_", 2)[0]
    assert {r.zone_key for r in result.readings} == {zone}
    first, second = result.readings[:2]
    assert second.period_start == first.period_end == first.period_start + HALF_HOUR
    assert first.actual == second.actual is not None and first.forecast is None and first.index is None


@needs_shared
def test_both_electricitymaps_header_spellings_read_the_direct_column() -> None:
    # GB_2021: "Zone name,Zone id,... (Life cycle)"; ES_2022: "Zone Name,Zone Id,... (LCA)".
    gb = parse_csv(SHARED_CARBON_DIR / "electricitymaps" / "GB_2021_hourly.csv")
    es = parse_csv(SHARED_CARBON_DIR / "electricitymaps" / "ES_2022_hourly.csv")
    assert gb.readings[0].actual == 156.05
    assert es.readings[0].actual == 133.64


@needs_shared
def test_zone_option_overrides_the_file(tmp_path: Path) -> None:
    assert {r.zone_key for r in parse_csv(NATIONAL, zone="uk-national").readings} == {"uk-national"}
    em = parse_csv(SHARED_CARBON_DIR / "electricitymaps" / "NO_2022_hourly.csv", zone="eu-north")
    assert {r.zone_key for r in em.readings} == {"eu-north"}


@needs_shared
def test_iteration_streams_without_reading_the_whole_file() -> None:
    report = ImportReport()
    with NATIONAL.open(encoding="utf-8", newline="") as lines:
        readings = iter_csv_readings(lines, report)
        next(readings)
        assert report.rows_read == 1
        assert sum(1 for _ in readings) == 8688
    assert report.rows_read == 8689


# -- hand-made files --------------------------------------------------------------

BAD_PYLON = """period_start,period_end,zone,forecast,actual,price_gbp_per_kwh
2024-05-01T10:00Z,2024-05-01T10:30Z,uk-south,120,118.5,0.21

not a time,,uk-south,120,,
2024-05-01T10:30Z,,uk-south,-3,,
2024-05-01T10:15Z,,uk-south,100,,
2024-05-01T11:00Z,,uk-south,1\x0000,,
2024-05-01T11:30Z,,uk-south,1e9,,
2024-05-01 12:00:00,,uk-south,100,,
2024-05-01T12:30Z,,uk-south,100
2024-05-01T13:00Z,,,100,,
2024-05-01T13:30Z,,uk-south,,,0.2
2024-05-01T14:00Z,,uk-south,100,,250
2024-05-01T14:30Z,2024-05-01T15:30Z,uk-south,100,,
2024-05-01T15:00+01:00,,uk-south,abc,,
2024-05-01T15:00+01:00,,uk-south,,90,-0.05
"""


def test_pylon_format_rejects_bad_lines_with_numbers_and_reasons(tmp_path: Path) -> None:
    result = parse_csv(write(tmp_path, BAD_PYLON))
    assert result.format is CsvFormat.PYLON
    assert result.rows_read == 14  # the blank line is not a row
    expected = [
        (4, "unparseable timestamp"),
        (5, "negative intensity"),
        (6, "period not aligned to :00/:30"),
        (7, "NUL byte"),
        (8, "value too large"),
        (9, "timestamp '2024-05-01 12:00:00' has no UTC offset"),
        (10, "expected 6 fields, found 4"),
        (11, "missing zone"),
        (12, "no intensity value"),
        (13, "value too large: price"),
        (14, "period is not 30 minutes long"),
        (15, "unparseable forecast"),
    ]
    assert [r.line for r in result.rejections] == [line for line, _ in expected]
    for rejection, (_, reason) in zip(result.rejections, expected, strict=True):
        assert rejection.reason.startswith(reason)
    good, shifted = result.readings
    assert (good.zone_key, good.forecast, good.actual, good.price_gbp_per_kwh) == ("uk-south", 120.0, 118.5, 0.21)
    assert good.source == "csv:pylon" and good.index is None
    # +01:00 is converted to UTC; negative prices are real and kept.
    assert shifted.period_start == datetime(2024, 5, 1, 14, 0, tzinfo=UTC)
    assert (shifted.forecast, shifted.actual, shifted.price_gbp_per_kwh) == (None, 90.0, -0.05)


def test_pylon_format_needs_a_zone_column_or_option(tmp_path: Path) -> None:
    path = write(tmp_path, "period_start,forecast\n2024-05-01T10:00Z,50\n")
    with pytest.raises(CsvFormatError, match="no zone column"):
        parse_csv(path)
    (reading,) = parse_csv(path, zone="uk-south").readings
    assert (reading.zone_key, reading.period_end) == ("uk-south", datetime(2024, 5, 1, 10, 30, tzinfo=UTC))


def test_neso_national_index_is_recomputed_when_invalid(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "from,to,forecast,actual,index\n"
        "2025-01-01T00:00Z,2025-01-01T00:30Z,95,,extreme\n"
        "2025-01-01T00:30Z,2025-01-01T01:00Z,95,130,\n",
    )
    assert [r.index for r in parse_csv(path).readings] == ["low", "moderate"]


def test_neso_regional_rejects_unknown_regions_and_bad_mix(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "from,regionid,forecast,gas,wind\n"
        "2023-03-14T03:00Z,19,10,1.0,99.0\n"
        "2023-03-14T03:00Z,3,10,abc,99.0\n"
        "2023-03-14T03:00Z,3,10,-1,99.0\n"
        "2023-03-14T03:00Z,4,10,,99.0\n",
    )
    result = parse_csv(path)
    assert [r.reason.split(" '")[0] for r in result.rejections] == [
        "unknown region id",
        "unparseable gas percentage",
        "gas percentage -1 out of 0-100",
    ]
    (reading,) = result.readings
    assert (reading.zone_key, reading.generation_mix) == ("4", {"wind": 99.0})


def test_electricitymaps_hourly_row_at_half_past_is_still_split(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Datetime (UTC),Zone Id,Carbon Intensity gCO₂eq/kWh (direct)\n2022-01-01 00:30:00,FR,50\n",
    )
    assert [r.period_start.minute for r in parse_csv(path).readings] == [30, 0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("a,b,c\n1,2,3\n", "unrecognised header"),
        ("from,to\x00,forecast\n", "unreadable header"),
    ],
)
def test_files_that_cannot_be_imported_at_all(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(CsvFormatError, match=match):
        parse_csv(write(tmp_path, text))


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbffrom,to,forecast,actual,index\r\n2023-03-15T20:00Z,2023-03-15T20:30Z,150,,\r\n")
    (reading,) = parse_csv(path).readings
    assert reading.forecast == 150.0 and reading.index == "moderate"


def test_undecodable_bytes_reject_only_their_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"period_start,zone,forecast\n2024-05-01T10:00Z,z,12\xff\n2024-05-01T10:30Z,z,13\n")
    result = parse_csv(path)
    assert [r.line for r in result.rejections] == [2]
    assert [r.forecast for r in result.readings] == [13.0]


def test_rejection_details_are_capped_but_counted() -> None:
    lines = ["period_start,zone,forecast\n"] + ["garbage,z,1\n"] * (MAX_REJECTIONS_KEPT + 500)
    result = parse_csv(lines)
    assert result.rows_rejected == MAX_REJECTIONS_KEPT + 500
    assert len(result.rejections) == MAX_REJECTIONS_KEPT
    assert result.rejections[-1].line == MAX_REJECTIONS_KEPT + 1


def test_accepts_any_iterable_of_lines() -> None:
    def lines() -> Iterator[str]:
        yield "period_start,zone,actual"
        yield "2024-05-01T10:00+00:00,z,7"

    (reading,) = parse_csv(lines()).readings
    assert reading.actual == 7.0
