"""Greedy batch placement: each workload, in priority order, takes its best option that fits.

* **Batches** are placed in priority order (urgency, then deadline slack, then
  submission time, then input order). All capacity-independent quantities are
  computed for a chunk of workloads at once; then each workload in turn gets a
  per-slot capacity mask (one cumulative sum over zones x slots), picks its
  best option per zone, and its best option reserves capacity before the next
  workload is considered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np

from . import placement
from .diagnose import diagnose
from .evaluate import evaluate_options
from .plans import build_plans
from .prepare import prepare, priority_order, resolve_weights
from .problem import CAPACITY_TOLERANCE, BoolArray, IntArray, Problem
from .types import (
    BatchResult,
    Constraint,
    FloatArray,
    ForecastGrid,
    Infeasibility,
    PolicyWeights,
    Reservations,
    WorkloadInput,
    WorkloadPlan,
    ZoneInput,
    as_utc,
)

CHUNK_SIZE: int = 128
"""Workloads evaluated per vectorised pass; bounds memory to ~Z*(T+1)*CHUNK floats per array."""


def capacity_fit(prob: Problem, needs: FloatArray, first: IntArray, end: IntArray) -> BoolArray | None:
    """(Z, S) mask of options whose every touched slot has the free capacity.

    ``None`` means the workload needs nothing, so capacity never binds.
    """
    ok: BoolArray | None = None
    for r in range(3):
        need = needs[r]
        if need <= 0:
            continue
        fit = prob.free[r] >= need - CAPACITY_TOLERANCE
        if ok is None:
            ok = fit
        else:
            ok &= fit
    if ok is None:
        return None
    z, t = ok.shape
    bad = np.zeros((z, t + 1), dtype=np.int32)
    np.cumsum(~ok, axis=1, out=bad[:, 1:])
    return (bad.take(end, axis=1) - bad.take(first, axis=1)) == 0


def _pick(score: FloatArray, emissions: FloatArray, start: FloatArray, top_k: int) -> list[tuple[int, int]]:
    """Best (zone, column) per zone, then top_k zones by (score, start, emissions, zone)."""
    col = np.argmin(score, axis=1)  # earliest column among equal scores = earliest start
    best = score.min(axis=1)  # = score[zones, col]
    feasible = np.flatnonzero(np.isfinite(best))
    if feasible.size == 0:
        return []
    c = col[feasible]
    order = np.lexsort((feasible, emissions[feasible, c], start[c], best[feasible]))[:top_k]
    return list(zip(feasible[order].tolist(), c[order].tolist(), strict=True))


def run(
    workloads: Sequence[WorkloadInput],
    zones: Sequence[ZoneInput],
    grid: ForecastGrid,
    reservations: Reservations | None,
    weights: PolicyWeights | Mapping[str, PolicyWeights],
    now: datetime,
    top_k: int,
    reserve: bool,
    budget: placement.Budget | None = None,
) -> BatchResult:
    if top_k < 1:
        raise ValueError("top_k must be >= 1")
    now = as_utc(now, "now")
    prob = Problem.build(zones, grid, reservations)
    order = priority_order(workloads, now)
    ordered = [workloads[i] for i in order]
    prep = prepare(ordered, resolve_weights(ordered, weights), prob, now)
    plans: list[WorkloadPlan | None] = [None] * len(workloads)

    if not prob.codes:
        for i, wl in enumerate(ordered):
            inf = Infeasibility(Constraint.NO_ZONES, "No zones are configured to run workloads in", {})
            plans[order[i]] = WorkloadPlan(wl.key, [], None, inf, float(prep.energy[i]), bool(prep.estimated[i]))
        return BatchResult(plans, [w.key for w in ordered], prob.reservations())  # type: ignore[arg-type]

    slot_times = [prob.slot_time(k) for k in range(prob.n_slots + 1)]
    # ``budget``: the placement step runs after greedy's pass (None: greedy's placement is the answer).
    step = placement.PlacementStep(prob, prep, CHUNK_SIZE, budget) if budget and reserve and len(ordered) > 1 else None
    for lo in range(0, len(ordered), CHUNK_SIZE):
        sl = slice(lo, min(lo + CHUNK_SIZE, len(ordered)))
        arrays = evaluate_options(prob, prep, sl)
        done: list[tuple[list[tuple[int, int]], Infeasibility | None]] = []
        for w in range(sl.stop - sl.start):
            i = lo + w
            needs = prep.needs[i]
            first, end = arrays.first_slot[w], arrays.end_slot[w]
            fit = capacity_fit(prob, needs, first, end)
            score = arrays.score[w] if fit is None else np.where(fit, arrays.score[w], np.inf)
            picks = _pick(score, arrays.emissions[w], arrays.start[w], top_k)
            infeasible = None
            if not picks:
                infeasible = diagnose(prob, prep, arrays, i, w, fit)
            elif reserve:
                z, j = picks[0]
                prob.reserve(z, int(first[j]), int(end[j]), needs)
            done.append((picks, infeasible))
        if step is not None:
            step.add_chunk(arrays, lo, done)
        for w, plan in enumerate(build_plans(prob, prep, arrays, lo, done, slot_times)):
            plans[order[lo + w]] = plan
    if step is not None:
        for i, plan in step.improve(top_k, slot_times):
            plans[order[i]] = plan
    return BatchResult(plans, [w.key for w in ordered], prob.reservations())  # type: ignore[arg-type]
