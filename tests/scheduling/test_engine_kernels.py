"""The engine's fast kernels against the straightforward versions they replaced.

``evaluate_options`` evaluates only the columns a workload may take, ``_pick`` and ``capacity_fit``
avoid fancy indexing, and the capacity diagnosis takes window minima from a range-minimum table
instead of a sliding window per call. Each must give exactly what the plain version gave: the
plain versions are kept here, and whole batches are compared plan for plan (every float, message
and detail) with the engine running on them instead.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from scheduling.benchmarks.engine_speed import synthetic_problem
from scheduling.engine import diagnose, evaluate, greedy, problem, schedule
from scheduling.engine.rangemin import RangeMin
from scheduling.engine.types import BALANCED, CARBON_FIRST, COST_FIRST, PolicyWeights

# --------------------------------------------------------------------------- the plain versions


def _gather(arr, idx):
    return np.take(arr, idx, axis=1).transpose(1, 0, 2)


def plain_evaluate_options(prob, prep, sl):
    """Every (workload, zone, column) of the chunk, as the engine did before it kept to the window."""
    t = prob.n_slots
    b = sl.stop - sl.start
    t0 = prep.t0[sl][:, None]
    dur = prep.dur[sl][:, None]
    aligned = np.arange(t, dtype=np.float64) * problem.SLOT_SECONDS
    start = np.empty((b, t + 1))
    start[:, 0] = prep.t0[sl]
    start[:, 1:] = aligned[None, :]
    end = start + dur
    time_ok = np.empty((b, t + 1), dtype=bool)
    time_ok[:, 0] = True
    time_ok[:, 1:] = (
        prep.may_defer[sl][:, None] & (aligned[None, :] > t0) & (aligned[None, :] <= prep.latest[sl][:, None])
    )
    time_ok &= end <= prep.deadline[sl][:, None]
    a = start / problem.SLOT_SECONDS
    e = end / problem.SLOT_SECONDS
    in_grid = (a >= 0.0) & (e <= t)
    fa = np.clip(np.floor(a), 0, t).astype(np.intp)
    fe = np.clip(np.floor(e), 0, t).astype(np.intp)
    ce = np.clip(np.ceil(e), 0, t).astype(np.intp)
    fra = np.where(in_grid, a - fa, 0.0)[:, None, :]
    fre = np.where(in_grid, e - fe, 0.0)[:, None, :]
    length = (dur / problem.SLOT_SECONDS)[:, :, None]
    energy = prep.energy[sl][:, None, None]

    def window(series):
        upper = _gather(series.cum, fe) + fre * _gather(series.pad, fe)
        lower = _gather(series.cum, fa) + fra * _gather(series.pad, fa)
        mean = (upper - lower) / length
        known = ((_gather(series.nan_cum, ce) - _gather(series.nan_cum, fa)) == 0) & in_grid[:, None, :]
        return mean, known

    mean_i, known_i = window(prob.intensity)
    mean_p, known_p = window(prob.price)
    mean_i = np.where(known_i, mean_i, np.nan)
    mean_p = np.where(known_p, mean_p, np.nan)
    emissions = energy * mean_i
    cost = energy * mean_p
    price_req = prep.price_required[sl][:, None, None]
    fc_ok = time_ok[:, None, :] & known_i & (known_p | ~price_req)
    with np.errstate(invalid="ignore"):
        carbon_ok = emissions <= prep.ccap[sl][:, None, None]
        price_ok = (cost <= prep.pcap[sl][:, None, None]) | ~prep.has_pcap[sl][:, None, None]
    rows = np.arange(b)
    host = prep.host[sl]
    has_host = host >= 0
    hz = np.where(has_host, host, 0)
    base_e = np.where(has_host, emissions[rows, hz, 0], np.nan)
    base_c = np.where(has_host, cost[rows, hz, 0], np.nan)
    window_i = time_ok[:, None, :] & known_i
    window_p = time_ok[:, None, :] & known_p
    with np.errstate(invalid="ignore"):
        max_e = np.max(np.where(window_i, emissions, 0.0), axis=(1, 2), initial=0.0)
        max_c = np.max(np.where(window_p, np.abs(cost), 0.0), axis=(1, 2), initial=0.0)
        e_ref = np.where(np.isfinite(base_e) & (base_e > 0), base_e, np.where(max_e > 0, max_e, 1.0))
        c_ref = np.where(np.isfinite(base_c) & (base_c != 0), np.abs(base_c), np.where(max_c > 0, max_c, 1.0))
    wts = prep.weights[sl]
    wait = (start - t0) / prep.acceptable_wait[sl][:, None]
    with np.errstate(invalid="ignore"):
        score = (
            wts[:, 0, None, None] * (emissions / e_ref[:, None, None])
            + wts[:, 1, None, None] * np.where(known_p, cost / c_ref[:, None, None], 0.0)
            + wts[:, 2, None, None] * wait[:, None, :]
        )
    score = np.where(fc_ok & carbon_ok & price_ok, score, np.inf)
    return evaluate.OptionArrays(
        start, fa, ce, time_ok, in_grid, known_i, known_p, fc_ok, carbon_ok, price_ok, emissions, cost,
        mean_i, mean_p, score, e_ref, c_ref, base_e, base_c,
    )  # fmt: skip


def plain_pick(score, emissions, start, top_k):
    col = np.argmin(score, axis=1)
    zones = np.arange(score.shape[0])
    best = score[zones, col]
    feasible = np.flatnonzero(np.isfinite(best))
    if feasible.size == 0:
        return []
    c = col[feasible]
    order = np.lexsort((feasible, emissions[feasible, c], start[c], best[feasible]))
    return [(int(feasible[o]), int(c[o])) for o in order[:top_k]]


def plain_capacity_fit(prob, needs, first, end):
    ok = None
    for r in range(3):
        if needs[r] <= 0:
            continue
        fit = prob.free[r] >= needs[r] - problem.CAPACITY_TOLERANCE
        ok = fit if ok is None else ok & fit
    if ok is None:
        return None
    z, t = ok.shape
    bad = np.zeros((z, t + 1), dtype=np.int32)
    np.cumsum(~ok, axis=1, out=bad[:, 1:])
    return (bad[:, end] - bad[:, first]) == 0


def plain_window_min_free(free, first, end, mask):
    """(Z, S) least free capacity over each option's slots, -inf where ``mask`` is False: one
    window at a time."""
    out = np.full(mask.shape, -np.inf)
    for z, j in zip(*np.nonzero(mask), strict=True):
        out[z, j] = free[z, first[j] : end[j]].min()
    return out


def plain_most_free(free, first, end, mask, table=None):
    mins = plain_window_min_free(free, first, end, mask)
    z, j = np.unravel_index(int(np.argmax(mins)), mins.shape)
    return float(mins[z, j]), int(z), int(j)


# --------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("seed", range(5))
def test_range_min_equals_the_plain_minimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = int(rng.integers(1, 120))
    values = rng.normal(size=(int(rng.integers(1, 16)), t))
    values[rng.random(values.shape) < 0.1] = rng.choice([0.0, -0.5, 3.0])  # ties
    table = RangeMin(values)
    for n in range(1, t + 1):
        starts = np.arange(t - n + 1)
        expected = np.stack([values[:, k : k + n].min(axis=1) for k in starts], axis=1)
        assert np.array_equal(table.query(starts, n), expected)
    before = values.copy()
    values += 100.0  # the table is a copy
    assert np.array_equal(table.query(np.arange(t), 1), before)


@pytest.mark.parametrize("seed", range(20))
def test_most_free_equals_the_plain_window_minimum_and_argmax(seed: int) -> None:
    rng = np.random.default_rng(seed)
    z, t = int(rng.integers(1, 15)), 96
    free = rng.integers(-2, 6, size=(z, t)).astype(float)  # many ties: the first in row-major order wins
    n = int(rng.integers(1, 30))
    offset = float(rng.uniform(0.0, 1.0))  # column 0 starts mid-slot
    first = np.empty(t + 1, dtype=np.intp)
    end = np.empty(t + 1, dtype=np.intp)
    first[0], end[0] = 0, min(t, int(np.ceil(offset + n - rng.uniform(0, 1))))
    first[1:] = np.arange(t)
    end[1:] = np.minimum(np.arange(t) + n, t)
    in_grid = np.ones(t + 1, dtype=bool)
    in_grid[1:] = np.arange(t) + n <= t
    mask = (rng.random((z, t + 1)) < rng.uniform(0.02, 0.6)) & in_grid[None, :]
    if rng.random() < 0.5:
        mask[:, 0] = False
    if not mask.any():
        mask[0, 1] = True
    expected = plain_most_free(free, first, end, mask)
    assert diagnose._most_free(free, first, end, mask) == expected
    assert diagnose._most_free(free, first, end, mask, RangeMin(free)) == expected


# --------------------------------------------------------------------------- whole batches


def _problems():
    for n, seed, now_offset, gpu_scale, weights in (
        (400, 1, 0, 1.0, BALANCED),
        (400, 2, 13, 0.15, BALANCED),  # mid-slot now; scarce GPUs: the greedy pass and diagnosis bind
        (300, 3, 29, 0.05, CARBON_FIRST),
        (300, 4, 7, 0.3, COST_FIRST),
        (300, 5, 0, 0.1, PolicyWeights(carbon=0.5, price=0.2, wait=0.3)),
    ):
        workloads, zones, grid, res, start = synthetic_problem(n, seed=seed)
        zones = [replace(zone, gpu_capacity=zone.gpu_capacity * gpu_scale) for zone in zones]
        yield workloads, zones, grid, res, weights, start + timedelta(minutes=now_offset)


@pytest.mark.parametrize("case", list(range(5)))
def test_batches_equal_the_plain_kernels_exactly(case: int, monkeypatch: pytest.MonkeyPatch) -> None:
    workloads, zones, grid, res, weights, now = list(_problems())[case]
    # The placement step within a round limit, not a clock: otherwise two runs may search unequally far.
    rounds = {"placement_seconds": None, "placement_rounds": 200}
    fast = schedule.schedule_batch(workloads, zones, grid, res, weights, now, **rounds)
    with monkeypatch.context() as patched:
        patched.setattr(greedy, "evaluate_options", plain_evaluate_options)
        patched.setattr(greedy, "_pick", plain_pick)
        patched.setattr(greedy, "capacity_fit", plain_capacity_fit)
        patched.setattr(
            diagnose,
            "_most_free_in",
            lambda free, first, end, cols, mask, table: plain_most_free(
                free, first, end, _spread(mask, cols, free.shape[1] + 1)
            ),
        )
        plain = schedule.schedule_batch(workloads, zones, grid, res, weights, now, **rounds)
    constraints = {str(plan.infeasible.constraint) for plan in plain.plans if plan.infeasible is not None}
    assert constraints and ("CAPACITY" in constraints or case == 0)
    assert fast.plans == plain.plans
    assert fast.priority_order == plain.priority_order
    for name in ("gpu", "cpu", "memory"):
        assert np.array_equal(getattr(fast.reservations, name), getattr(plain.reservations, name))


def _spread(mask_cols, cols, s):
    full = np.zeros((mask_cols.shape[0], s), dtype=bool)
    full[:, cols] = mask_cols
    return full
