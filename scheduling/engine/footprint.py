"""Accounting one given run on a half-hourly series: the options' time-weighted accounting, for a
single run. The one rule for a half hour whose figure is unknown: it is never zero. It takes the
figure the caller knows for the zone (``fallback``; accounting a finished run uses the zone's current
figure), or, without one, the result is unknown (``None``)."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import numpy.typing as npt

from .types import SLOT, ForecastGrid, as_utc


def time_weighted_mean(values: npt.ArrayLike, first: float, end: float, fallback: float | None = None) -> float | None:
    """Mean of a half-hourly series over ``[first, end)`` in slot units (fractional: a partly covered
    slot counts for the part covered). Unknown (NaN) slots take ``fallback``; without one the mean
    is unknown (None). ``first < end`` and both inside the series."""
    f, last = math.floor(first), math.ceil(end)
    segment = np.asarray(values, dtype=np.float64)[f:last]
    unknown = np.isnan(segment)
    if unknown.any():
        if fallback is None:
            return None
        segment = np.where(unknown, fallback, segment)
    weights = np.ones(len(segment))
    weights[0] -= first - f
    weights[-1] -= last - end
    return float(np.dot(segment, weights) / (end - first))


def run_footprint(
    grid: ForecastGrid, zone_code: str, start: datetime, duration_mins: float, energy_kwh: float
) -> tuple[float | None, float | None]:
    """Emissions (g) and cost (GBP) of a given run on ``grid``; None where unknown (a run outside the
    grid, or over a half hour without a figure).

    The same time-weighted accounting as the options, for one run — e.g. to account a finished run
    on actual intensities.
    """
    row = grid.zone_codes.index(zone_code)
    a = (as_utc(start) - grid.start) / SLOT
    e = a + duration_mins / SLOT.total_seconds() * 60.0
    if a < 0 or e > grid.n_slots or duration_mins <= 0:
        return None, None
    assert grid.price is not None
    means = (time_weighted_mean(values[row], a, e) for values in (grid.intensity, grid.price))
    return tuple(None if mean is None else float(energy_kwh * mean) for mean in means)  # type: ignore[return-value]
