"""Client for the NESO (formerly National Grid ESO) Carbon Intensity API.

No authentication. Half-hour settlement periods in UTC, timestamps like
``2023-03-15T20:00Z``. Zone keys are NESO region ids as strings ("1" .. "18")
plus ``NATIONAL_ZONE_KEY`` for the national series, the only one with an
``actual``.

Payload shapes (see tests/fixtures/carbon/):

* national ``/intensity/{from}/fw48h``:
  ``{"data": [{"from", "to", "intensity": {"forecast", "actual", "index"}}]}``
* regional by time ``/regional/intensity/{from}/fw48h``:
  ``{"data": [{"from", "to", "regions": [{"regionid", "intensity", "generationmix"}]}]}``
* regional by region ``/regional/intensity/{from}/fw48h/regionid/{id}`` and
  ``/regional/regionid/{id}``: ``{"data": [{"regionid", ..., "data": [periods]}]}``;
  the live API also sends ``"data": {region object}`` here, so both are accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import requests

from ._http import DEFAULT_TIMEOUT, JsonHttpClient
from .bands import INDEX_BANDS, index_band
from .base import (
    IntensityReading,
    PermanentProviderError,
    TransientProviderError,
    check_hours,
    data_member,
    floor_half_hour,
    intensity_value,
    malformed_payload,
    parse_api_time,
    window_filter,
)

DEFAULT_BASE_URL = "https://api.carbonintensity.org.uk"
SOURCE = "neso"
NATIONAL_ZONE_KEY = "national"
# 1-14 the DNO regions, 15 England, 16 Scotland, 17 Wales, 18 GB.
REGION_IDS: frozenset[str] = frozenset(str(i) for i in range(1, 19))
MAX_HOURS = 48  # the API forecasts no further ahead


class NesoProvider:
    """Fetches NESO forecasts; all requested regions come from a single regional call."""

    name = SOURCE

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self._http = JsonHttpClient(SOURCE, base_url, session=session, timeout=timeout)

    def fetch_forecast(self, zone_keys: Sequence[str], start: datetime, hours: int = 48) -> list[IntensityReading]:
        """Forecasts for region ids (and/or ``NATIONAL_ZONE_KEY``) from ``start`` for ``hours``.

        One call to ``/regional/intensity/{from}/fw48h`` covers every region;
        the national series costs one more call only if requested.
        """
        check_hours(hours, MAX_HOURS)
        wanted = set(zone_keys)
        region_ids = wanted - {NATIONAL_ZONE_KEY}
        _check_region_ids(region_ids)
        readings: list[IntensityReading] = []
        if region_ids:
            payload = self._http.get(f"/regional/intensity/{_api_time(start)}/fw48h")
            readings += parse_regional_by_time(payload, region_ids)
        if NATIONAL_ZONE_KEY in wanted:
            payload = self._http.get(f"/intensity/{_api_time(start)}/fw48h")
            readings += parse_national(payload)
        return window_filter(readings, start, hours)

    def fetch_national_forecast(self, start: datetime, hours: int = 48) -> list[IntensityReading]:
        """The national series, which alone carries ``actual`` for past periods."""
        return self.fetch_forecast([NATIONAL_ZONE_KEY], start, hours)

    def fetch_region_forecast(self, region_id: str, start: datetime, hours: int = 48) -> list[IntensityReading]:
        """One region via ``/regional/intensity/{from}/fw48h/regionid/{id}`` (smaller payload)."""
        check_hours(hours, MAX_HOURS)
        _check_region_ids([region_id])
        payload = self._http.get(f"/regional/intensity/{_api_time(start)}/fw48h/regionid/{region_id}")
        return window_filter(parse_regional_by_region(payload, region_id), start, hours)

    def fetch_region_current(self, region_id: str) -> list[IntensityReading]:
        """The current half hour for one region via ``/regional/regionid/{id}``."""
        _check_region_ids([region_id])
        return parse_regional_by_region(self._http.get(f"/regional/regionid/{region_id}"), region_id)


def parse_national(payload: Any) -> list[IntensityReading]:
    """Readings keyed ``NATIONAL_ZONE_KEY`` from a national ``/intensity/...`` payload."""
    readings = []
    with malformed_payload(SOURCE, "national payload"):
        for period in _periods(payload):
            reading = _reading(NATIONAL_ZONE_KEY, period, period["intensity"], None)
            if reading is not None:
                readings.append(reading)
    return readings


def parse_regional_by_time(payload: Any, region_ids: Iterable[str] | None = None) -> list[IntensityReading]:
    """Readings from a ``/regional/intensity/{from}/...`` payload (periods, each with regions).

    Keeps only ``region_ids`` (all if None). A requested id that appears in no
    period is an unknown region: PermanentProviderError naming it.
    """
    wanted = None if region_ids is None else set(region_ids)
    readings: list[IntensityReading] = []
    seen: set[str] = set()
    with malformed_payload(SOURCE, "regional payload"):
        for period in _periods(payload):
            for region in period["regions"]:
                key = _region_key(region)
                seen.add(key)
                if wanted is not None and key not in wanted:
                    continue
                reading = _reading(key, period, region.get("intensity"), region.get("generationmix"))
                if reading is not None:
                    readings.append(reading)
    missing = sorted((wanted or set()) - seen)
    if missing:
        raise PermanentProviderError(
            f"{SOURCE}: unknown region id(s) {', '.join(missing)}: absent from the response",
            provider=SOURCE,
        )
    return readings


def parse_regional_by_region(payload: Any, region_id: str | None = None) -> list[IntensityReading]:
    """Readings from a by-region payload, where ``data`` holds region objects with their own
    ``data`` list of periods. If ``region_id`` is given, the response must be for that region."""
    readings: list[IntensityReading] = []
    with malformed_payload(SOURCE, "regional payload"):
        regions = data_member(payload, SOURCE)
        for region in [regions] if isinstance(regions, dict) else regions:
            key = _region_key(region)
            if region_id is not None and key != region_id:
                raise PermanentProviderError(
                    f"{SOURCE}: asked for region {region_id}, response is for region {key}",
                    provider=SOURCE,
                )
            for period in region["data"]:
                reading = _reading(key, period, period.get("intensity"), period.get("generationmix"))
                if reading is not None:
                    readings.append(reading)
    if not readings and region_id is not None:
        raise TransientProviderError(
            f"{SOURCE}: no periods with a forecast for region {region_id}",
            provider=SOURCE,
        )
    return readings


def _check_region_ids(region_ids: Iterable[str]) -> None:
    unknown = sorted(set(region_ids) - REGION_IDS)
    if unknown:
        raise PermanentProviderError(
            f"{SOURCE}: unknown region id(s) {', '.join(map(repr, unknown))}: "
            f"NESO regions are '1'..'18' or {NATIONAL_ZONE_KEY!r}",
            provider=SOURCE,
        )


def _api_time(value: datetime) -> str:
    """``2023-03-15T20:00Z``: the start of the half hour containing ``value``."""
    return floor_half_hour(value).strftime("%Y-%m-%dT%H:%MZ")


def _periods(payload: Any) -> list[dict[str, Any]]:
    periods = data_member(payload, SOURCE)
    if not isinstance(periods, list):
        raise TypeError(f"'data' is {type(periods).__name__}, expected a list of periods")
    if not periods:
        raise TransientProviderError(f"{SOURCE}: response has no periods", provider=SOURCE)
    return periods


def _region_key(region: dict[str, Any]) -> str:
    """``regionid`` as a string. Never ``shortname``: its spelling has changed over time."""
    region_id = region["regionid"]
    if isinstance(region_id, str) and region_id.isdigit():
        region_id = int(region_id)  # tolerate "1": the key is the number, not its JSON type
    if isinstance(region_id, bool) or not isinstance(region_id, int):
        raise TypeError(f"regionid {region_id!r} is not an integer")
    return str(region_id)


def _reading(zone_key: str, period: dict[str, Any], intensity: Any, mix: Any) -> IntensityReading | None:
    """One reading, or None when the period has neither forecast nor actual (maintenance gaps
    are skipped rather than stored as a fake 0)."""
    intensity = intensity or {}
    forecast = intensity_value(intensity.get("forecast"))
    actual = intensity_value(intensity.get("actual"))
    if forecast is None and actual is None:
        return None
    start = parse_api_time(period["from"])
    index = intensity.get("index")
    if index not in INDEX_BANDS:
        # The API's own index uses the actual when it has one; do the same.
        index = index_band(actual if actual is not None else forecast, start)
    return IntensityReading(
        zone_key=zone_key,
        period_start=start,
        period_end=parse_api_time(period["to"]),
        forecast=forecast,
        actual=actual,
        index=str(index),
        generation_mix=_generation_mix(mix),
        source=SOURCE,
    )


def _generation_mix(mix: Any) -> dict[str, float] | None:
    if not mix:
        return None
    return {str(item["fuel"]): float(item["perc"]) for item in mix}
