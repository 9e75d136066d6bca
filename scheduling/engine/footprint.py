"""The footprint of one given run on a forecast grid: the options' accounting, for a single run."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np

from .types import SLOT, ForecastGrid, as_utc


def run_footprint(
    grid: ForecastGrid, zone_code: str, start: datetime, duration_mins: float, energy_kwh: float
) -> tuple[float | None, float | None]:
    """Emissions (g) and cost (GBP) of a given run on ``grid``; None where unknown.

    The same time-weighted accounting as the options, for one run — e.g. to
    account a finished run on actual intensities.
    """
    row = grid.zone_codes.index(zone_code)
    a = (as_utc(start) - grid.start) / SLOT
    e = a + duration_mins / SLOT.total_seconds() * 60.0
    if a < 0 or e > grid.n_slots or duration_mins <= 0:
        return None, None
    out: list[float | None] = []
    assert grid.price is not None
    for values in (grid.intensity[row], grid.price[row]):
        f, l_ = math.floor(a), math.ceil(e)
        seg = values[f:l_]
        if np.isnan(seg).any():
            out.append(None)
            continue
        weights = np.ones(len(seg))
        weights[0] -= a - f
        weights[-1] -= l_ - e
        out.append(float(energy_kwh * np.dot(seg, weights) / (e - a)))
    return out[0], out[1]
