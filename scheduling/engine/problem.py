"""The problem the engine solves: zones, their forecasts and free capacity as aligned arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from .rangemin import RangeMin
from .types import SLOT, FloatArray, ForecastGrid, Reservations, ZoneInput

SLOT_SECONDS: float = SLOT.total_seconds()
CAPACITY_TOLERANCE: float = 1e-9
"""Free capacity may fall short of the need by this much (float noise)."""

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


@dataclass
class Series:
    """Cumulative views of one (Z, T) series for O(1) window integrals."""

    values: FloatArray  # (Z, T), NaN = unknown
    cum: FloatArray  # (Z, T+1), cum[:, i] = sum of values[:, :i] with NaN as 0
    pad: FloatArray  # (Z, T+1), values with NaN as 0 and a trailing 0 column
    nan_cum: FloatArray  # (Z, T+1), cumulative count of NaN slots
    cum_t: FloatArray = field(init=False, repr=False)  # the three above transposed, (T+1, Z), contiguous
    pad_t: FloatArray = field(init=False, repr=False)
    nan_cum_t: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cum_t = np.ascontiguousarray(self.cum.T)
        self.pad_t = np.ascontiguousarray(self.pad.T)
        self.nan_cum_t = np.ascontiguousarray(self.nan_cum.T)

    @classmethod
    def build(cls, values: FloatArray) -> Series:
        z, t = values.shape
        nan = np.isnan(values)
        clean = np.where(nan, 0.0, values)
        cum = np.zeros((z, t + 1))
        np.cumsum(clean, axis=1, out=cum[:, 1:])
        pad = np.zeros((z, t + 1))
        pad[:, :t] = clean
        nan_cum = np.zeros((z, t + 1))
        np.cumsum(nan, axis=1, out=nan_cum[:, 1:])
        return cls(values, cum, pad, nan_cum)


@dataclass
class Problem:
    """Zones, forecasts and free capacity aligned to the order of ``zones``."""

    zones: list[ZoneInput]
    codes: list[str]
    grid_start: datetime
    n_slots: int
    intensity: Series
    price: Series
    capacity: FloatArray  # (3, Z): gpu, cpu, memory
    reserved: FloatArray  # (3, Z, T)
    free: FloatArray  # (3, Z, T)
    version: int = 0  # bumped by every ``reserve``: invalidates the range-minimum tables
    _range_min: dict[int, tuple[int, RangeMin]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, zones: Sequence[ZoneInput], grid: ForecastGrid, reservations: Reservations | None) -> Problem:
        codes = [z.code for z in zones]
        if len(set(codes)) != len(codes):
            raise ValueError("duplicate zone codes")
        t = grid.n_slots
        row = {code: i for i, code in enumerate(grid.zone_codes)}
        intensity = np.full((len(codes), t), np.nan)
        price = np.full((len(codes), t), np.nan)
        assert grid.price is not None
        for i, code in enumerate(codes):
            if code in row:
                intensity[i] = grid.intensity[row[code]]
                price[i] = grid.price[row[code]]
        reserved = np.zeros((3, len(codes), t))
        if reservations is not None:
            for arr in (reservations.gpu, reservations.cpu, reservations.memory):
                if arr.shape != (len(reservations.zone_codes), t):
                    raise ValueError("reservation arrays must be (len(zone_codes), grid.n_slots)")
            rrow = {code: i for i, code in enumerate(reservations.zone_codes)}
            for i, code in enumerate(codes):
                if code in rrow:
                    j = rrow[code]
                    reserved[0, i] = reservations.gpu[j]
                    reserved[1, i] = reservations.cpu[j]
                    reserved[2, i] = reservations.memory[j]
        capacity = np.array(
            [[z.gpu_capacity for z in zones], [z.cpu_capacity for z in zones], [z.memory_gb_capacity for z in zones]],
            dtype=np.float64,
        ).reshape(3, len(codes))
        free = capacity[:, :, None] - reserved
        return cls(
            list(zones), codes, grid.start, t, Series.build(intensity), Series.build(price), capacity, reserved, free
        )

    def slot_time(self, index: int) -> datetime:
        return self.grid_start + index * SLOT

    def reserve(self, zone: int, first: int, end: int, needs: FloatArray) -> None:
        """Hold ``needs`` (gpu, cpu, memory) in ``zone`` over slots ``[first, end)``."""
        for r in range(3):
            if needs[r] > 0:
                self.free[r, zone, first:end] -= needs[r]
                self.reserved[r, zone, first:end] += needs[r]
        self.version += 1

    def free_range_min(self, r: int) -> RangeMin:
        """Range-minimum table of ``free[r]`` as it is now (rebuilt only after a ``reserve``)."""
        cached = self._range_min.get(r)
        if cached is None or cached[0] != self.version:
            cached = (self.version, RangeMin(self.free[r]))
            self._range_min[r] = cached
        return cached[1]

    def reservations(self) -> Reservations:
        return Reservations(list(self.codes), self.reserved[0].copy(), self.reserved[1].copy(), self.reserved[2].copy())
