"""The placement step's exact move: a few workloads re-placed by a MILP (HiGHS) around all the others.

Ruin and recreate puts workloads back one at a time, so a packing that needs several of them to
move together at once (two big runs making room for three small ones) is found only by luck. Here
the workloads of a neighbourhood are taken out and HiGHS places them back, every other workload
fixed: the most placed first, then the least cost (one objective: each placement is worth one, and
the costs, scaled, add less than one in all, so they only break ties). The MILP is small (tens of
workloads; only options that fit on their own, no option dearer than one that touches no cell they
could overfill, and capacity rows only for such cells) and starts from the current placement, so
its answer is never worse; it is stopped at a time and a node limit, so it is better than the start
or the start, not always proven optimal.
"""

from __future__ import annotations

import threading

import highspy
import numpy as np

from .candidates import Candidates, IntArray, occupancy
from .types import FloatArray

TOLERANCE = 1e-9
#: Passes of the reduction (fewer options leave fewer cells that can be overfilled, and so on).
REDUCE_PASSES = 3
#: HiGHS's relative gap: the count is an integer, the cost's tie-break worth less than one.
GAP = 1e-4

_local = threading.local()


def _highs():
    """One HiGHS instance per thread (creating one prints HiGHS's banner; this keeps it to once)."""
    if getattr(_local, "highs", None) is None:
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("threads", 1)
        _local.highs = highs
    return _local.highs


def resolve(
    cand: Candidates,
    needs: FloatArray,
    free: FloatArray,
    ids: IntArray,
    current: IntArray,
    must: np.ndarray,
    *,
    time_limit: float | None,
    node_limit: int,
) -> IntArray | None:
    """The best placement HiGHS finds for workloads ``ids`` (option index each, -1 = unplaced) in the
    capacity ``free`` the other workloads leave (``(3, Z, T)``, ``inf`` = unlimited): the most placed,
    then the least cost; those with ``must`` set are placed. ``current`` (their placement now, which
    fits) is the warm start. None when HiGHS ends without a placement."""
    spans = cand.ptr[ids + 1] - cand.ptr[ids]
    options = np.repeat(cand.ptr[ids] - np.cumsum(spans) + spans, spans) + np.arange(spans.sum())
    seg = np.repeat(np.arange(ids.size), spans)  # the local workload of each option
    # Only options that fit in what the others leave, each on its own (the others never fit).
    fits = fits_alone(cand, needs[ids[seg]], free, options)
    options, seg = options[fits], seg[fits]
    if not options.size:
        return None
    # As ``candidates.reduce`` does, here: capacity rows only for cells these workloads could
    # overfill, and no option that costs as much as one of its workload's options touching none.
    for _ in range(REDUCE_PASSES):
        tight = _tight(cand, needs[ids[seg]], free, options)
        spare = _spare(cand, seg, options, _touching(cand, needs[ids[seg]], tight, options), ids.size)
        keep = (cand.cost[options] < cand.cost[np.maximum(spare, 0)][seg]) | (spare[seg] < 0)
        keep[np.isin(options, spare)] = True
        if keep.all():
            break
        options, seg = options[keep], seg[keep]
    tight = _tight(cand, needs[ids[seg]], free, options)
    spare = _spare(cand, seg, options, _touching(cand, needs[ids[seg]], tight, options), ids.size)
    # The warm start: a workload whose option went takes its no dearer one that touches nothing.
    current = np.where(np.isin(current, options) | (current < 0), current, spare)
    zone, first, end = cand.zone[options], cand.first[options], cand.end[options]
    row_of = np.full(free.shape, -1, dtype=np.intp)
    row_of[tight] = ids.size + np.arange(int(tight.sum()))
    rows = ids.size + int(tight.sum())
    lengths = end - first
    p_rep = np.repeat(np.arange(options.size), lengths)
    t_rep = np.arange(p_rep.size) - np.repeat(np.cumsum(lengths) - lengths, lengths) + first[p_rep]
    entry_col, entry_row, entry_val = [np.arange(options.size)], [seg], [np.ones(options.size)]
    for r in range(free.shape[0]):
        row = row_of[r, zone[p_rep], t_rep]
        amount = needs[ids[seg[p_rep]], r]
        hit = (row >= 0) & (amount > 0)
        entry_col.append(p_rep[hit])
        entry_row.append(row[hit])
        entry_val.append(amount[hit])
    col = np.concatenate(entry_col)
    by_col = np.argsort(col, kind="stable")
    start = np.r_[0, np.cumsum(np.bincount(col, minlength=options.size))]
    cell = row_of >= 0
    upper = np.r_[np.ones(ids.size), np.maximum(free[cell], 0.0)[np.argsort(row_of[cell])]]
    lower = np.r_[np.where(must[ids], 1.0, 0.0), np.full(rows - ids.size, -np.inf)]

    cost = cand.cost[options]
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = int(options.size), int(rows)
    # First the count; among as many placed, the cheaper (a tie-break worth less than one in all).
    low, high = float(cost.min()), float(cost.max())
    lp.col_cost_ = -1.0 + (cost - low) / ((high - low) * (ids.size + 1) + TOLERANCE)
    lp.col_lower_, lp.col_upper_ = np.zeros(options.size), np.ones(options.size)
    lp.row_lower_, lp.row_upper_ = lower, upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start.astype(np.int32)
    lp.a_matrix_.index_ = np.concatenate(entry_row)[by_col].astype(np.int32)
    lp.a_matrix_.value_ = np.concatenate(entry_val)[by_col]
    lp.integrality_ = [highspy.HighsVarType.kInteger] * int(options.size)
    highs = _highs()
    highs.clearModel()
    highs.setOptionValue("mip_max_nodes", int(node_limit))
    highs.setOptionValue("mip_rel_gap", GAP)
    highs.passModel(lp)
    x = np.zeros(options.size)
    x[np.searchsorted(options, current[current >= 0])] = 1.0
    highs.setOptionValue("time_limit", highs.inf if time_limit is None else max(time_limit, 1e-3))
    solution = highspy.HighsSolution()
    solution.col_value = x
    solution.value_valid = True
    highs.setSolution(solution)
    highs.run()
    if highs.getInfo().primal_solution_status == highspy.kSolutionStatusFeasible:
        found = np.round(np.asarray(highs.getSolution().col_value))
        if found.sum() > x.sum() or (found.sum() == x.sum() and cost @ found < cost @ x):
            x = found
    chosen = np.flatnonzero(x > 0.5)
    choice = np.full(ids.size, -1, dtype=np.intp)
    choice[seg[chosen]] = options[chosen]
    return choice


def fits_alone(cand: Candidates, needs: FloatArray, free: FloatArray, options: IntArray) -> np.ndarray:
    """Which ``options`` (``needs``: their workloads' needs, a row each) fit in ``free`` on their own:
    per resource and distinct need, one count of short half hours and two gathers."""
    ok = np.ones(options.size, dtype=bool)
    zone, first, end = cand.zone[options], cand.first[options], cand.end[options]
    for r in range(free.shape[0]):
        amounts, level = np.unique(needs[:, r], return_inverse=True)
        for k, amount in enumerate(amounts):
            if amount <= 0:
                continue
            short = free[r] < amount - TOLERANCE
            count = np.zeros((short.shape[0], short.shape[1] + 1), dtype=np.int32)
            np.cumsum(short, axis=1, out=count[:, 1:])
            at = level == k
            ok[at] &= count[zone[at], end[at]] == count[zone[at], first[at]]
    return ok


def _tight(cand: Candidates, needs: FloatArray, free: FloatArray, options: IntArray) -> np.ndarray:
    """``(3, Z, T)``: the cells ``options`` (``needs``: a row each) could together overfill."""
    tight = np.zeros(free.shape, dtype=bool)
    zone, first, end = cand.zone[options], cand.first[options], cand.end[options]
    for r in range(free.shape[0]):
        if (needs[:, r] > 0).any():
            demand = occupancy(zone, first, end, needs[:, r], free.shape[1], free.shape[2])
            tight[r] = demand > free[r] + TOLERANCE
    return tight


def _touching(cand: Candidates, needs: FloatArray, tight: np.ndarray, options: IntArray) -> np.ndarray:
    """Which ``options`` hold a resource in a ``tight`` cell."""
    zone, first, end = cand.zone[options], cand.first[options], cand.end[options]
    hit = np.zeros(options.size, dtype=bool)
    for r in range(tight.shape[0]):
        count = np.zeros((tight.shape[1], tight.shape[2] + 1), dtype=np.int32)
        np.cumsum(tight[r], axis=1, out=count[:, 1:])
        hit |= (count[zone, end] > count[zone, first]) & (needs[:, r] > 0)
    return hit


def _spare(cand: Candidates, seg: IntArray, options: IntArray, touching: np.ndarray, n: int) -> IntArray:
    """Per local workload, its cheapest of ``options`` that touch no tight cell (-1: none): it fits
    whatever the others do."""
    spare = np.full(n, -1, dtype=np.intp)
    free_options = np.flatnonzero(~touching)
    by_cost = free_options[np.lexsort((free_options, cand.cost[options[free_options]], seg[free_options]))]
    heads = by_cost[np.r_[True, seg[by_cost][1:] != seg[by_cost][:-1]]] if by_cost.size else by_cost
    spare[seg[heads]] = options[heads]
    return spare
