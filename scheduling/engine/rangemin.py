"""Exact range minima over slot windows, for the free capacity of every zone at once."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class RangeMin:
    """Sparse table of a (Z, T) array: the minimum over any slots ``[k, k + n)`` of every row in two
    gathers, for all ``k`` at once (instead of a sliding-window minimum per window length).

    ``levels[L][:, k]`` is the minimum over ``[k, k + 2**L)``; the window ``[k, k + n)`` is the union
    of the two (overlapping) windows of length ``2**L <= n`` starting at ``k`` and at ``k + n - 2**L``.
    Minima are exact: the result equals ``values[:, k:k + n].min(axis=1)``.
    """

    __slots__ = ("levels",)

    def __init__(self, values: FloatArray) -> None:
        self.levels = [np.array(values, dtype=np.float64)]  # a copy: the caller may change ``values``

    def _level(self, level: int) -> FloatArray:
        """``levels[level]``, building the missing levels up to it (short windows need few)."""
        levels = self.levels
        while len(levels) <= level:
            prev = levels[-1]
            width = 1 << (len(levels) - 1)
            levels.append(np.minimum(prev[:, :-width], prev[:, width:]))
        return levels[level]

    def query(self, starts: IntArray, n: int) -> FloatArray:
        """(Z, len(starts)) minima over ``[k, k + n)`` for each ``k`` in ``starts`` (``n >= 1``,
        every window inside the array)."""
        level = n.bit_length() - 1
        table = self._level(level)
        return np.minimum(table.take(starts, axis=1), table.take(starts + (n - (1 << level)), axis=1))
