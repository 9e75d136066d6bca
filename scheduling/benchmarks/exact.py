"""The exact reference of the placement benchmark: a compact MILP solved by HiGHS (through SciPy).

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
    time_limit: float = TIME_LIMIT,
) -> Exact:
    """The lexicographic optimum (most placed, then the most saved against ``base``, each workload's
    cost at once in its host zone), or HiGHS's best within the limit per phase.

    ``must`` (bool per workload) are placed in every solution: the placement step's promise that
    what greedy placed stays placed, so the reference answers the same question. ``placed_already``
    is a known placement's count: the first phase starts from it (and is skipped when it places
    every workload that has an option, which is then proven)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    n = len(needs)
    alive, binding = reduce(cand, needs, free)
    keep = np.flatnonzero(alive)
    owner, zone, first, end = cand.owner[keep], cand.zone[keep], cand.first[keep], cand.end[keep]
    cost = cand.cost[keep] - base[owner]  # minus the saving
    p_count = len(keep)
    # One row per workload (at most one option), one per binding cell.
    rows, cols, vals, upper = [owner], [np.arange(p_count)], [np.ones(p_count)], [np.ones(n)]
    lower = [np.where(must, 1.0, 0.0) if must is not None else np.zeros(n)]
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
    n_rows = n + int(binding.sum())
    matrix = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, p_count))
    lower.append(np.full(n_rows - n, -np.inf))
    constraint = LinearConstraint(matrix.tocsr(), np.concatenate(lower), np.concatenate(upper))
    integral, bounds = np.ones(p_count), Bounds(0, 1)

    placeable = int((np.diff(cand.ptr) > 0).sum())
    first_proven, count, count_bound, first_x = True, placeable, placeable, None
    if placed_already < placeable:
        first_phase = milp(
            -np.ones(p_count),
            constraints=[constraint],
            integrality=integral,
            bounds=bounds,
            options={"time_limit": time_limit},
        )
        found = int(round(-first_phase.fun)) if first_phase.x is not None else 0
        first_proven, first_x = first_phase.status == 0, first_phase.x
        bound = getattr(first_phase, "mip_dual_bound", None)
        count_bound = found if first_proven or bound is None else min(placeable, int(np.floor(-bound + 1e-6)))
        count = max(found, placed_already)
    at_least = LinearConstraint(np.ones((1, p_count)), count - 0.5, np.inf)
    second = milp(
        cost,
        constraints=[constraint, at_least],
        integrality=integral,
        bounds=bounds,
        options={"time_limit": time_limit, "mip_rel_gap": GAP},
    )
    x = second.x if second.x is not None else first_x
    proven = first_proven and second.status == 0
    dual = getattr(second, "mip_dual_bound", None)
    if second.status == 0:
        dual = second.fun if dual is None or not np.isfinite(dual) else min(dual, second.fun)
    saving_bound = -float(dual) if dual is not None and np.isfinite(dual) else np.inf
    choice = np.full(n, -1)
    if x is None:
        return Exact(choice, "no solution", count_bound, saving_bound, p_count, n_rows)
    for p in np.flatnonzero(x > 0.5):
        choice[owner[p]] = keep[p]
    return Exact(choice, "optimal" if proven else "time limit", count_bound, saving_bound, p_count, n_rows)
