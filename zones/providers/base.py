"""Plain data types shared by every carbon-intensity provider.

Nothing here imports Django: providers are used from Celery tasks, management
commands and benchmarks alike, and must stay testable without a database.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

HALF_HOUR = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class IntensityReading:
    """One settlement period of carbon intensity for one zone.

    ``zone_key`` is the provider's own key for the zone (NESO region id "1",
    Electricity Maps zone "FR", WattTime region "CAISO_NORTH"); mapping it to a
    Pylon zone is the caller's job. Intensities are gCO2/kWh. ``generation_mix``
    maps fuel to percent. Instances are immutable but not hashable when
    ``generation_mix`` is set (a dict).
    """

    zone_key: str
    period_start: datetime
    period_end: datetime
    forecast: float | None
    actual: float | None = None
    index: str | None = None
    generation_mix: dict[str, float] | None = None
    price_gbp_per_kwh: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        # Fail at construction rather than when a naive datetime reaches the
        # database and silently shifts by the server's local offset.
        for name in ("period_start", "period_end"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() != timedelta(0):
                raise ValueError(f"{name} must be a UTC-aware datetime, got {value!r}")
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")


class ProviderError(Exception):
    """A provider call failed. ``provider`` names the provider, ``status`` the HTTP status if any."""

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status


class TransientProviderError(ProviderError):
    """Worth retrying later: network error, timeout, HTTP 5xx/429, empty body."""


class PermanentProviderError(ProviderError):
    """Retrying will not help: bad request or credentials, unknown zone, malformed payload."""


@runtime_checkable
class CarbonIntensityProvider(Protocol):
    """What the refresh task needs from any provider."""

    name: str

    def fetch_forecast(self, zone_keys: Sequence[str], start: datetime, hours: int = 48) -> list[IntensityReading]:
        """Readings for ``zone_keys`` whose periods overlap [start, start + hours), in time
        order, fetched in as few API calls as the provider allows."""
        ...


def as_utc(value: datetime) -> datetime:
    """``value`` converted to UTC; naive datetimes are rejected because their meaning is unknown."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
    return value.astimezone(UTC)


def floor_half_hour(value: datetime) -> datetime:
    """Start of the half-hour settlement period containing the UTC-aware ``value``."""
    value = as_utc(value)
    return value.replace(minute=value.minute - value.minute % 30, second=0, microsecond=0)


def is_half_hour_aligned(value: datetime) -> bool:
    return value.minute in (0, 30) and value.second == 0 and value.microsecond == 0


def window_filter(readings: Sequence[IntensityReading], start: datetime, hours: int) -> list[IntensityReading]:
    """Keep readings whose periods overlap [start, start + hours), in time order.

    APIs return whole windows (NESO fw48h, WattTime horizons) that need not
    begin exactly at ``start``; callers asked for a specific window.
    """
    begin = floor_half_hour(start)
    end = as_utc(start) + timedelta(hours=hours)
    kept = [r for r in readings if begin <= r.period_start < end]
    return sorted(kept, key=lambda r: (r.period_start, r.zone_key))


def check_hours(hours: int, maximum: int) -> None:
    """Reject windows the API cannot serve before spending a request on them."""
    if not 1 <= hours <= maximum:
        raise ValueError(f"hours must be between 1 and {maximum}, got {hours}")


@contextmanager
def malformed_payload(provider: str, what: str) -> Iterator[None]:
    """Report a payload of an unexpected shape as a PermanentProviderError.

    A missing key or wrong type will not fix itself on retry; naming the
    provider and the part being parsed makes the log line actionable.
    """
    try:
        yield
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise PermanentProviderError(
            f"{provider}: malformed {what}: {type(exc).__name__}: {exc}",
            provider=provider,
        ) from exc


def parse_api_time(text: str) -> datetime:
    """An API timestamp (``2023-03-15T20:00Z``, ``2023-01-23T17:00:00.000Z``,
    ``2023-08-03T17:30:00+00:00``) as an aware UTC datetime; naive ones are malformed."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return value.astimezone(UTC)


def intensity_value(value: Any, what: str = "intensity") -> float | None:
    """A JSON intensity as float; None stays None (no data, never 0). Raises on non-numbers,
    NaN and negatives, which ``malformed_payload`` turns into a PermanentProviderError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} {value!r} is not a number")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{what} {value!r} is not a non-negative number")
    return float(value)


def data_member(payload: Any, provider: str) -> Any:
    """``payload["data"]``. Its absence is treated like the empty ``{}`` bodies NESO
    sends during incidents: transient, since a later call normally succeeds."""
    if not isinstance(payload, dict) or "data" not in payload:
        raise TransientProviderError(f"{provider}: response has no 'data'", provider=provider)
    return payload["data"]
