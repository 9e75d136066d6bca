"""The exact reference of the placement benchmark: a compact MILP solved by HiGHS (highspy).

The engine hands the placement step every feasible option of every workload (tens of thousands at
200 workloads, each spanning up to 24 half hours); given to HiGHS as they are, the MILP is too big to
prove. Two reductions that lose no optimum make it small:

* **Capacity rows only where capacity can bind**, and
* **dominated options go** — ``scheduling.engine.candidates.reduce``, which the placement step
  uses too.

The objective is lexicographic, in two phases: the most workloads placed (a count: proven as soon as
HiGHS's bound is within one), then the least cost among placements of at least that many. Each phase
has a time limit; when HiGHS cannot prove the second, its dual bound gives an upper bound on the
carbon saving of any placement with that count, so "% of the optimum" can be stated against it.

A known placement (``start``: the placement step's) may be handed over as HiGHS's first incumbent:
it prunes the search, so more gets proven in the time; it cannot make the reference look worse
than it is, and the bounds are HiGHS's own. The whole MILP is solved here, not neighbourhoods of
it, and nothing else of the step's is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduling.engine.candidates import Candidates, reduce

TIME_LIMIT = 60.0
#: Relative gap at which HiGHS stops the second phase (the default is 1e-4).
GAP = 1e-5


@dataclass
class Exact:
    choice: np.ndarray  # option index per workload, -1 = unplaced
    status: str  # "optimal" (both phases proven), "time limit", "no solution"
    count_bound: int  # no placement places more
    saving_bound: float  # no placement with at least ``choice``'s count saves more (cost units)
    options: int  # options and capacity rows of the reduced MILP
    rows: int


def solve(
    cand: Candidates,
    needs: np.ndarray,
    free: np.ndarray,
    base: np.ndarray,
    *,
    must: np.ndarray | None = None,
    placed_already: int = 0,
    start: np.ndarray | None = None,
    time_limit: float = TIME_LIMIT,
) -> Exact:
    """The lexicographic optimum (most placed, then the most saved against ``base``, each workload's
    cost at once in its host zone), or HiGHS's best within the limit per phase.

    ``must`` (bool per workload) are placed in every solution: the placement step's promise that
    what greedy placed stays placed, so the reference answers the same question. ``placed_already``
    is a known placement's count: the first phase starts from it (and is skipped when it places
    every workload that has an option, which is then proven). ``start`` (option index per workload,
    -1 = unplaced; it must fit) is HiGHS's first incumbent in both phases."""
    import highspy

    n = len(needs)
    alive, binding = reduce(cand, needs, free)
    if start is not None:
        alive[start[start >= 0]] = True
    keep = np.flatnonzero(alive)
    owner, zone, first, end = cand.owner[keep], cand.zone[keep], cand.first[keep], cand.end[keep]
    cost = cand.cost[keep] - base[owner]  # minus the saving
    p_count = len(keep)
    # One row per workload (at most one option), one per binding cell.
    rows, cols, vals = [owner], [np.arange(p_count)], [np.ones(p_count)]
    lower = [np.where(must, 1.0, 0.0) if must is not None else np.zeros(n)]
    upper = [np.ones(n)]
    cell_row = np.full(binding.shape, -1, dtype=np.intp)
    cell_row[binding] = n + np.arange(int(binding.sum()))
    lengths = end - first
    p_rep = np.repeat(np.arange(p_count), lengths)
    t_rep = np.arange(len(p_rep)) - np.repeat(np.cumsum(lengths) - lengths, lengths) + first[p_rep]
    for r in range(3):
        row = cell_row[r, zone[p_rep], t_rep]
        need = needs[owner[p_rep], r]
        hit = (row >= 0) & (need > 0)
        rows.append(row[hit])
        cols.append(p_rep[hit])
        vals.append(need[hit])
    upper.append(np.maximum(free[binding], 0.0))
    lower.append(np.full(int(binding.sum()), -np.inf))
    n_rows = n + int(binding.sum())
    col = np.concatenate(cols)
    by_col = np.argsort(col, kind="stable")

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = p_count, n_rows
    lp.col_cost_ = -np.ones(p_count)
    lp.col_lower_, lp.col_upper_ = np.zeros(p_count), np.ones(p_count)
    lp.row_lower_, lp.row_upper_ = np.concatenate(lower), np.concatenate(upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.r_[0, np.cumsum(np.bincount(col, minlength=p_count))].astype(np.int32)
    lp.a_matrix_.index_ = np.concatenate(rows)[by_col].astype(np.int32)
    lp.a_matrix_.value_ = np.concatenate(vals)[by_col]
    lp.integrality_ = [highspy.HighsVarType.kInteger] * p_count
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", float(time_limit))
    highs.passModel(lp)
    known = None
    if start is not None:
        known = np.zeros(p_count)
        known[np.searchsorted(keep, start[start >= 0])] = 1.0

    def run(x: np.ndarray | None) -> tuple[np.ndarray | None, bool, float]:
        """HiGHS from incumbent ``x``: its best solution, whether proven, and its dual bound."""
        if x is not None:
            solution = highspy.HighsSolution()
            solution.col_value = x
            solution.value_valid = True
            highs.setSolution(solution)
        highs.run()
        info = highs.getInfo()
        found = None
        if info.primal_solution_status == highspy.kSolutionStatusFeasible:
            found = np.round(np.asarray(highs.getSolution().col_value))
        return found, highs.getModelStatus() == highspy.HighsModelStatus.kOptimal, float(info.mip_dual_bound)

    placeable = int((np.diff(cand.ptr) > 0).sum())
    first_proven, count, count_bound, best = True, placeable, placeable, known
    if placed_already < placeable:
        found, first_proven, bound = run(known)
        found_count = int(found.sum()) if found is not None else 0
        if first_proven or not np.isfinite(bound):
            count_bound = found_count
        else:
            count_bound = min(placeable, int(np.floor(-bound + 1e-6)))
        count = max(found_count, placed_already)
        if found is not None and (known is None or found_count >= int(known.sum())):
            best = found
    everything = np.arange(p_count, dtype=np.int32)
    highs.addRow(count - 0.5, highs.inf, p_count, everything, np.ones(p_count))
    highs.changeColsCost(p_count, everything, cost)
    highs.setOptionValue("mip_rel_gap", GAP)
    incumbent = best if best is not None and best.sum() >= count - 0.5 else None
    found, second_proven, dual = run(incumbent)
    x = found if found is not None else best
    if second_proven and found is not None:
        dual = min(dual, float(cost @ found)) if np.isfinite(dual) else float(cost @ found)
    saving_bound = -dual if np.isfinite(dual) else np.inf
    choice = np.full(n, -1)
    if x is None:
        return Exact(choice, "no solution", count_bound, saving_bound, p_count, n_rows)
    for p in np.flatnonzero(x > 0.5):
        choice[owner[p]] = keep[p]
    proven = first_proven and second_proven
    return Exact(choice, "optimal" if proven else "time limit", count_bound, saving_bound, p_count, n_rows)
