"""Client for the Electricity Maps v3 API (zones outside GB).

The API has no multi-zone endpoint, so ``fetch_forecast`` makes one call per
zone. Its points are hourly; Pylon stores half-hour periods, so each point
becomes two half-hour readings carrying the same value (the hourly mean is
the best estimate for either half). Forecast points fill ``forecast``;
``/latest`` and ``/history`` points are measured or estimated values and fill
``actual``. ``index`` is left None: NESO's bands are a GB calibration.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import requests

from ._http import DEFAULT_TIMEOUT, JsonHttpClient
from .base import (
    HALF_HOUR,
    IntensityReading,
    PermanentProviderError,
    check_hours,
    intensity_value,
    is_half_hour_aligned,
    malformed_payload,
    parse_api_time,
    window_filter,
)

DEFAULT_BASE_URL = "https://api.electricitymap.org"
SOURCE = "electricitymaps"
MAX_HOURS = 72


class ElectricityMapsProvider:
    """Electricity Maps v3 client authenticated with the ``auth-token`` header.

    ``emission_factor_type`` defaults to "direct" so live values match the
    operational (direct) column used by file imports; pass "lifecycle" for the
    API's own default.
    """

    name = SOURCE

    def __init__(
        self,
        token: str | None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        emission_factor_type: str = "direct",
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        # A missing token is reported on use, not here, so the provider can be
        # built unconditionally and only zones that need it fail.
        self._token = token
        self._emission_factor_type = emission_factor_type
        self._http = JsonHttpClient(SOURCE, base_url, session=session, timeout=timeout)

    def fetch_forecast(self, zone_keys: Sequence[str], start: datetime, hours: int = 48) -> list[IntensityReading]:
        """Forecast readings for each zone, one call per zone."""
        check_hours(hours, MAX_HOURS)
        readings: list[IntensityReading] = []
        for zone in dict.fromkeys(zone_keys):  # de-duplicated, order kept
            readings += parse_response(self._get("forecast", zone), "forecast", zone)
        return window_filter(readings, start, hours)

    def fetch_latest(self, zone: str) -> list[IntensityReading]:
        """The latest hourly value as two half-hour readings (``actual``)."""
        return parse_response(self._get("latest", zone), "latest", zone)

    def fetch_history(self, zone: str) -> list[IntensityReading]:
        """The past 24 hours as half-hour readings (``actual``)."""
        return parse_response(self._get("history", zone), "history", zone)

    def _get(self, endpoint: str, zone: str) -> Any:
        if not self._token:
            raise PermanentProviderError(
                f"{SOURCE}: no API token configured (set ELECTRICITYMAPS_API_TOKEN)",
                provider=SOURCE,
            )
        return self._http.get(
            f"/v3/carbon-intensity/{endpoint}",
            params={"zone": zone, "emissionFactorType": self._emission_factor_type},
            headers={"auth-token": self._token},
        )


def parse_response(payload: Any, endpoint: str, zone: str) -> list[IntensityReading]:
    """Half-hour readings from a ``forecast``, ``history`` or ``latest`` payload for ``zone``.

    ``forecast`` and ``history`` hold lists of hourly ``{carbonIntensity, datetime}``
    points; ``latest`` is a single such point. Null intensities are skipped.
    """
    field = "forecast" if endpoint == "forecast" else "actual"
    readings: list[IntensityReading] = []
    with malformed_payload(SOURCE, f"{endpoint} payload for zone {zone}"):
        answered = payload.get("zone", zone)
        if answered != zone:
            raise ValueError(f"asked for zone {zone!r}, response is for {answered!r}")
        points = [payload] if endpoint == "latest" else payload[endpoint]
        for point in points:
            value = intensity_value(point["carbonIntensity"], "carbonIntensity")
            if value is not None:
                readings += _half_hours(zone, parse_api_time(point["datetime"]), value, field)
    return readings


def _half_hours(zone: str, start: datetime, value: float, field: str) -> list[IntensityReading]:
    if not is_half_hour_aligned(start):
        raise ValueError(f"point at {start.isoformat()} is not on a half hour")
    return [
        IntensityReading(
            zone_key=zone,
            period_start=slot,
            period_end=slot + HALF_HOUR,
            forecast=value if field == "forecast" else None,
            actual=value if field == "actual" else None,
            source=SOURCE,
        )
        for slot in (start, start + HALF_HOUR)
    ]
