"""Every feasible option of every workload, flat, and the part of it where capacity can bind.

Two reductions that lose no optimum of "place the most, then at the least cost" (the placement
step and the benchmark's exact MILP both work on what is left):

* **Only cells that can bind matter.** A cell (resource, zone, half hour) binds only when the
  workloads that could hold it could together need more than it has free; every other cell is
  satisfied by any placement.
* **Dominated options go.** An option that touches no binding cell fits whatever the others do; so a
  workload needs none of its options that cost as much as its cheapest such "free" option (switching
  to it never costs more and never breaks capacity). Fewer options make fewer cells binding, so the
  two are applied until nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .types import FloatArray

IntArray = np.ndarray
BoolArray = np.ndarray


@dataclass
class Candidates:
    """Every feasible option of every workload, flat, grouped by workload (priority order).

    Option ``p`` of workload ``owner[p]`` runs in ``zone[p]`` over half hours ``[first[p], end[p])``
    at ``cost[p]``; ``col[p]`` is its start column (to map back to the engine's options).
    Workload ``i``'s options are ``ptr[i]:ptr[i+1]``.
    """

    owner: IntArray
    zone: IntArray
    col: IntArray
    first: IntArray
    end: IntArray
    cost: FloatArray
    ptr: IntArray

    @classmethod
    def concat(cls, parts: list[Candidates], n: int) -> Candidates:
        if not parts:
            empty = np.zeros(0, dtype=np.intp)
            return cls(empty, empty, empty, empty, empty, np.zeros(0), np.zeros(n + 1, dtype=np.intp))
        owner = np.concatenate([p.owner for p in parts])
        ptr = np.searchsorted(owner, np.arange(n + 1))
        return cls(
            owner,
            np.concatenate([p.zone for p in parts]),
            np.concatenate([p.col for p in parts]),
            np.concatenate([p.first for p in parts]),
            np.concatenate([p.end for p in parts]),
            np.concatenate([p.cost for p in parts]),
            ptr,
        )

    def subset(self, keep: IntArray) -> Candidates:
        """The options ``keep`` (sorted indices), grouped by workload as before."""
        owner = self.owner[keep]
        ptr = np.searchsorted(owner, np.arange(len(self.ptr)))
        return Candidates(
            owner, self.zone[keep], self.col[keep], self.first[keep], self.end[keep], self.cost[keep], ptr
        )

    def index_of(self, i: int, zone: int, col: int) -> int:
        lo, hi = self.ptr[i], self.ptr[i + 1]
        hit = np.flatnonzero((self.zone[lo:hi] == zone) & (self.col[lo:hi] == col))
        return int(lo + hit[0]) if hit.size else -1


def cheapest_per_workload(cand: Candidates, values: FloatArray) -> FloatArray:
    """Each workload's least of ``values`` (one per option; inf for a workload without options): a
    segmented minimum over the groups (``ufunc.at`` is many times slower)."""
    least = np.full(len(cand.ptr) - 1, np.inf)
    has = cand.ptr[1:] > cand.ptr[:-1]
    if has.any():
        least[has] = np.minimum.reduceat(values, cand.ptr[:-1][has])
    return least


def occupancy(
    zone: IntArray, first: IntArray, end: IntArray, amount: FloatArray, z_count: int, t_count: int
) -> FloatArray:
    """(Z, T) sum of ``amount`` held over half hours ``[first, end)`` in ``zone``: a difference array
    (bincount, not ``add.at``: this runs every price iteration) and one cumulative sum."""
    width = t_count + 1
    delta = np.bincount(zone * width + first, amount, z_count * width)
    delta -= np.bincount(zone * width + end, amount, z_count * width)
    return np.cumsum(delta.reshape(z_count, width), axis=1)[:, :t_count]


def _binding(cand: Candidates, needs: FloatArray, free: FloatArray, alive: BoolArray) -> BoolArray:
    """(3, Z, T) mask of cells the ``alive`` options could together overfill: per workload and zone
    the hull of its options' half hours counts in full, which over-counts, never under-counts."""
    r_count, z_count, t_count = free.shape
    idx = np.flatnonzero(alive)
    key = cand.owner[idx] * z_count + cand.zone[idx]
    groups, inverse = np.unique(key, return_inverse=True)
    # Options are grouped by workload and zone, starts ascending: the hull is first start, last end.
    starts = np.r_[0, np.flatnonzero(np.diff(inverse)) + 1] if len(idx) else np.zeros(0, dtype=np.intp)
    lo = np.minimum.reduceat(cand.first[idx], starts) if len(idx) else starts
    hi = np.maximum.reduceat(cand.end[idx], starts) if len(idx) else starts
    owner, zone = groups // z_count, groups % z_count
    binding = np.zeros(free.shape, dtype=bool)
    for r in range(r_count):
        demand = occupancy(zone, lo, hi, needs[owner, r], z_count, t_count)
        binding[r] = np.isfinite(free[r]) & (demand > free[r] + 1e-9)
    return binding


def touches(cand: Candidates, mask: BoolArray, needs: FloatArray) -> BoolArray:
    """Which options hold a cell of ``mask`` (for a resource they need)."""
    touched = np.zeros(len(cand.cost), dtype=bool)
    for r in range(mask.shape[0]):
        count = np.zeros((mask.shape[1], mask.shape[2] + 1), dtype=np.int32)
        np.cumsum(mask[r], axis=1, out=count[:, 1:])
        hit = count[cand.zone, cand.end] > count[cand.zone, cand.first]
        touched |= hit & (needs[cand.owner, r] > 0)
    return touched


def reduce(cand: Candidates, needs: FloatArray, free: FloatArray) -> tuple[BoolArray, BoolArray]:
    """The options that may be needed (a bool mask) and the cells that may bind, to a fixed point."""
    alive = np.ones(len(cand.cost), dtype=bool)
    while True:
        binding = _binding(cand, needs, free, alive)
        touched = touches(cand, binding, needs)
        free_cost = np.where(alive & ~touched, cand.cost, np.inf)
        cheapest_free = cheapest_per_workload(cand, free_cost)
        # The first cheapest free option of each workload stays; costlier-or-equal ones go.
        is_first = np.zeros(len(cand.cost), dtype=bool)
        candidates = np.flatnonzero(alive & ~touched & (cand.cost <= cheapest_free[cand.owner]))
        _, first_of = np.unique(cand.owner[candidates], return_index=True)
        is_first[candidates[first_of]] = True
        keep = alive & ((cand.cost < cheapest_free[cand.owner]) | is_first)
        if keep.sum() == alive.sum():
            return alive, binding
        alive = keep
