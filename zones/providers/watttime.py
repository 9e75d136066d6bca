"""Client for the WattTime v3 API (marginal emissions, mostly North America).

Auth: ``GET /login`` with HTTP Basic returns a bearer token (valid ~30 min).
The token is cached and refreshed once when a data call answers 401.

``/v3/forecast?signal_type=co2_moer`` gives 5-minute points of the *marginal*
operating emissions rate, in the units named by ``meta.units`` (normally
lbs CO2/MWh). Readings are half-hour means of those points in gCO2/kWh, in
``forecast``; ``index`` stays None because NESO's bands describe GB average
intensity, not a US marginal rate.
"""

from __future__ import annotations

from collections import defaultdict
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
    data_member,
    floor_half_hour,
    intensity_value,
    malformed_payload,
    parse_api_time,
    window_filter,
)

DEFAULT_BASE_URL = "https://api.watttime.org"
SOURCE = "watttime"
SIGNAL_TYPE = "co2_moer"
MAX_HOURS = 72  # the forecast endpoint's longest horizon
# 1 lb = 0.45359237 kg exactly, so 1 lb/MWh = 0.45359237 g/kWh (the "x 0.4536" rule).
LBS_PER_MWH_TO_G_PER_KWH = 0.45359237
_TO_G_PER_KWH: dict[str, float] = {
    "lbs_co2_per_mwh": LBS_PER_MWH_TO_G_PER_KWH,
    "kg_co2_per_mwh": 1.0,  # kg/MWh == g/kWh
    "g_co2_per_kwh": 1.0,
}
_UNAUTHORIZED = 401


class WattTimeProvider:
    """WattTime v3 forecast client; one call per region plus a login when needed."""

    name = SOURCE

    def __init__(
        self,
        username: str | None,
        password: str | None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self._credentials = (username or "", password or "")
        self._token: str | None = None
        self._http = JsonHttpClient(SOURCE, base_url, session=session, timeout=timeout)

    def fetch_forecast(self, zone_keys: Sequence[str], start: datetime, hours: int = 48) -> list[IntensityReading]:
        """Half-hour MOER forecasts for each WattTime region (e.g. "CAISO_NORTH")."""
        check_hours(hours, MAX_HOURS)
        readings: list[IntensityReading] = []
        for region in dict.fromkeys(zone_keys):  # de-duplicated, order kept
            params = {
                "region": region,
                "signal_type": SIGNAL_TYPE,
                "horizon_hours": hours,
            }
            readings += parse_forecast(self._authorized_get("/v3/forecast", params), region)
        return window_filter(readings, start, hours)

    def _authorized_get(self, path: str, params: dict[str, str | int]) -> Any:
        """GET with the cached token; on 401 log in again and retry exactly once."""
        if self._token is None:
            self._token = self._login()
        try:
            return self._http.get(path, params=params, headers=self._bearer())
        except PermanentProviderError as exc:
            if exc.status != _UNAUTHORIZED:
                raise
        # The cached token expired or was revoked: one fresh login, one retry.
        self._token = self._login()
        return self._http.get(path, params=params, headers=self._bearer())

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _login(self) -> str:
        if not all(self._credentials):
            raise PermanentProviderError(
                f"{SOURCE}: no credentials configured (username and password are required)",
                provider=SOURCE,
            )
        payload = self._http.get("/login", auth=self._credentials)
        with malformed_payload(SOURCE, "login payload"):
            token = payload["token"]
            if not isinstance(token, str) or not token:
                raise ValueError("token is not a non-empty string")
        return token


def parse_forecast(payload: Any, region: str) -> list[IntensityReading]:
    """Half-hour readings (gCO2/kWh) from a ``/v3/forecast`` payload for ``region``.

    Each half hour is the mean of the 5-minute points that fall in it; a
    partial half hour at the edge of the horizon keeps the mean of what exists.
    """
    points = data_member(payload, SOURCE)
    buckets: dict[datetime, list[float]] = defaultdict(list)
    with malformed_payload(SOURCE, f"forecast payload for region {region}"):
        meta = payload["meta"]
        answered = meta.get("region", region)
        if answered != region:
            raise ValueError(f"asked for region {region!r}, response is for {answered!r}")
        units = meta["units"]
        if units not in _TO_G_PER_KWH:
            raise ValueError(f"unsupported units {units!r}")
        factor = _TO_G_PER_KWH[units]
        for point in points:
            value = intensity_value(point["value"], "value")
            if value is not None:
                buckets[floor_half_hour(parse_api_time(point["point_time"]))].append(value)
    return [
        IntensityReading(
            zone_key=region,
            period_start=slot,
            period_end=slot + HALF_HOUR,
            forecast=factor * sum(values) / len(values),
            source=SOURCE,
        )
        for slot, values in sorted(buckets.items())
    ]
