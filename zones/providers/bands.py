"""NESO carbon-intensity index bands ("very low" .. "very high").

NESO recalibrates the band boundaries every year as the GB grid decarbonises,
so the same 120 gCO2/kWh is "moderate" in 2023 and "moderate" only down to
100 by 2025. Pure and dependency-free: used by providers, file imports and
the scheduling apps.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from datetime import datetime
from enum import StrEnum


class IndexBand(StrEnum):
    """Band names exactly as the NESO API spells them (members compare equal to the strings)."""

    VERY_LOW = "very low"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    VERY_HIGH = "very high"


INDEX_BANDS: tuple[IndexBand, ...] = tuple(IndexBand)

# Lower bounds (gCO2/kWh) of low / moderate / high / very high. 2023 was
# checked against real API rows; 2024-2026 are NESO's published trajectory.
_LOWER_BOUNDS: dict[int, tuple[int, int, int, int]] = {
    2023: (40, 120, 200, 290),
    2024: (35, 110, 190, 271),
    2025: (30, 100, 180, 251),
    2026: (25, 90, 170, 231),
}
_FIRST_YEAR = min(_LOWER_BOUNDS)
_LAST_YEAR = max(_LOWER_BOUNDS)


def index_band(intensity: float, at: datetime) -> IndexBand:
    """The band of ``intensity`` (gCO2/kWh) measured or forecast for the moment ``at``.

    The one rule, used everywhere: a figure is banded with the boundaries in force in the year of
    the half hour it describes (not the year it is shown in), as NESO's own index does. Years before
    2023 use 2023's bands and years after 2026 use 2026's: no other calibration has been published.
    """
    if math.isnan(intensity) or intensity < 0:
        raise ValueError(f"intensity must be a non-negative number, got {intensity!r}")
    bounds = _LOWER_BOUNDS[min(max(at.year, _FIRST_YEAR), _LAST_YEAR)]
    return INDEX_BANDS[bisect_right(bounds, intensity)]


def zone_band(*, neso_region_id: int | None, intensity: float | None, at: datetime) -> IndexBand | None:
    """The band the API shows for a zone's figure: ``index_band``'s rule, for GB zones only (the
    bands are NESO's calibration of the GB grid), None when the figure is unknown. A band a provider
    stored with its reading is not reused: it may be of another year's calibration."""
    if neso_region_id is None or intensity is None:
        return None
    return index_band(float(intensity), at)
