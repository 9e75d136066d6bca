"""Vectorised option evaluation and scoring: every capacity-independent figure of a chunk at once.

How an option is evaluated (and why):

* **Options.** A workload may start at ``t0 = max(now, submitted_at)`` (the
  "start now" option, possibly mid-slot) or, when it may defer (deferrable, not
  CRITICAL, window > 0), at any half-hour boundary after ``t0`` up to
  ``submitted_at + deferral_window`` (once that has passed, only "now" is
  left). Every start must end by the deadline
  (checked on real times, not slots) and lie inside the forecast grid.
* **Time-weighted means.** A run covers ``[a, b)`` in slot units; partial first
  and last slots are weighted by the fraction covered. With ``C`` the cumulative
  sum of a zone's series, the integral up to a fractional position ``x`` is
  ``C[floor x] + frac(x) * v[floor x]`` — so every (workload, zone, start) is a
  handful of array gathers, vectorised over workloads x zones x starts.
  Emissions = energy x mean intensity; cost = energy x mean price.
* **Unknown is not zero.** A NaN in any slot the run touches makes the option
  infeasible (a separate cumulative NaN count detects it). Price is only
  required when it matters (a price cap, or a positive price weight); otherwise
  ``cost_gbp`` is reported as ``None``. Intensity 0 is a valid value.
* **Capacity** is checked per slot touched for GPUs (``gpu_mins /
  duration_mins`` on average), CPU cores and memory; it is the only constraint
  that couples workloads, so it is applied in the greedy pass.
* **Caps** are inclusive: emissions <= carbon cap and cost <= price cap, on the
  forecast the engine is given.
* **Score** (lower is better) = ``w_carbon * E / E_ref + w_price * C / C_ref +
  w_wait * wait / acceptable_wait``. ``E_ref``/``C_ref`` are the host-now
  baseline's emissions/|cost| (falling back to the largest value among the
  workload's in-window options, then 1) so the parts are dimensionless and the
  weights comparable; the references are positive constants per workload, so
  with CARBON_FIRST weights the order of options is exactly the order of
  emissions. ``acceptable_wait`` is the remaining deferral window times the
  urgency share (LOW 1, MEDIUM 1/2, HIGH 1/4, CRITICAL 0), at least one slot.
* **Ties** are broken by earlier start, then lower emissions, then zone order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .prepare import Prepared
from .problem import SLOT_SECONDS, BoolArray, IntArray, Problem, Series
from .types import FloatArray


@dataclass
class OptionArrays:
    """Capacity-independent results for a chunk of workloads, shape (B, Z, S).

    Column 0 is "start at t0"; column ``k + 1`` is "start at slot boundary k".
    """

    start: FloatArray  # (B, S) seconds after grid start
    first_slot: IntArray  # (B, S) first slot touched
    end_slot: IntArray  # (B, S) one past the last slot touched
    time_ok: BoolArray  # (B, S) window + deadline
    in_grid: BoolArray  # (B, S)
    known_i: BoolArray  # (B, Z, S) intensity known for the whole run (and in grid)
    known_p: BoolArray  # (B, Z, S) price known for the whole run (and in grid)
    fc_ok: BoolArray  # (B, Z, S) time_ok & required forecasts known
    carbon_ok: BoolArray  # (B, Z, S)
    price_ok: BoolArray  # (B, Z, S)
    emissions: FloatArray  # (B, Z, S) grams
    cost: FloatArray  # (B, Z, S) GBP, NaN when price unknown
    mean_i: FloatArray  # (B, Z, S)
    mean_p: FloatArray  # (B, Z, S)
    score: FloatArray  # (B, Z, S), inf = infeasible before capacity
    e_ref: FloatArray  # (B,)
    c_ref: FloatArray  # (B,)
    base_e: FloatArray  # (B,) NaN = baseline not computable
    base_c: FloatArray  # (B,) NaN = unknown


def evaluate_options(prob: Problem, prep: Prepared, sl: slice) -> OptionArrays:
    """Compute every capacity-independent quantity for workloads ``sl`` at once.

    Only the columns a workload may take (its time window, ``time_ok``) and column 0 (the host-now
    baseline) are evaluated — on average a tenth of them — as a flat list of (workload, column)
    pairs; elsewhere ``score`` is inf and ``fc_ok`` False (as they would be), and the other
    (B, Z, S) arrays hold NaN or False, which nothing reads.
    """
    t = prob.n_slots
    b = sl.stop - sl.start
    z = len(prob.codes)
    t0 = prep.t0[sl][:, None]
    dur = prep.dur[sl][:, None]
    aligned = np.arange(t, dtype=np.float64) * SLOT_SECONDS
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

    a = start / SLOT_SECONDS
    e = end / SLOT_SECONDS
    in_grid = (a >= 0.0) & (e <= t)
    fa = np.clip(np.floor(a), 0, t).astype(np.intp)
    fe = np.clip(np.floor(e), 0, t).astype(np.intp)
    ce = np.clip(np.ceil(e), 0, t).astype(np.intp)

    # The (workload, column) pairs evaluated, grouped by workload (row-major), each with (Z,) values.
    wanted = time_ok.copy()
    wanted[:, 0] = True
    pair_row, pair_col = np.nonzero(wanted)
    pair_in_grid = in_grid[pair_row, pair_col][:, None]
    pair_first, pair_floor_end, pair_ceil_end = fa[pair_row, pair_col], fe[pair_row, pair_col], ce[pair_row, pair_col]
    fra = np.where(pair_in_grid, a[pair_row, pair_col][:, None] - pair_first[:, None], 0.0)
    fre = np.where(pair_in_grid, e[pair_row, pair_col][:, None] - pair_floor_end[:, None], 0.0)
    length = (prep.dur[sl] / SLOT_SECONDS)[pair_row][:, None]
    energy = prep.energy[sl][pair_row][:, None]

    def window(series: Series) -> tuple[FloatArray, BoolArray]:
        cum, pad, nan_cum = series.cum_t, series.pad_t, series.nan_cum_t  # (T+1, Z): rows gather to (P, Z)
        upper = cum[pair_floor_end] + fre * pad[pair_floor_end]
        lower = cum[pair_first] + fra * pad[pair_first]
        mean = (upper - lower) / length
        known = ((nan_cum[pair_ceil_end] - nan_cum[pair_first]) == 0) & pair_in_grid
        return mean, known

    mean_i, known_i = window(prob.intensity)
    mean_p, known_p = window(prob.price)
    mean_i = np.where(known_i, mean_i, np.nan)
    mean_p = np.where(known_p, mean_p, np.nan)
    emissions = energy * mean_i
    cost = energy * mean_p

    pair_time_ok = time_ok[pair_row, pair_col][:, None]
    price_req = prep.price_required[sl][pair_row][:, None]
    fc_ok = pair_time_ok & known_i & (known_p | ~price_req)
    with np.errstate(invalid="ignore"):
        carbon_ok = emissions <= prep.ccap[sl][pair_row][:, None]
        price_ok = (cost <= prep.pcap[sl][pair_row][:, None]) | ~prep.has_pcap[sl][pair_row][:, None]

    # Baseline: start now in the host zone, whatever the constraints say. Column 0 of each workload
    # is its first pair.
    first_pair = np.searchsorted(pair_row, np.arange(b))
    host = prep.host[sl]
    has_host = host >= 0
    hz = np.where(has_host, host, 0)
    base_e = np.where(has_host, emissions[first_pair, hz], np.nan) if prob.codes else np.full(b, np.nan)
    base_c = np.where(has_host, cost[first_pair, hz], np.nan) if prob.codes else np.full(b, np.nan)

    window_i = pair_time_ok & known_i
    window_p = pair_time_ok & known_p
    with np.errstate(invalid="ignore"):
        # Per workload: the max over its pairs and zones (exact, so the grouping does not matter).
        max_e = np.maximum.reduceat(np.where(window_i, emissions, 0.0).max(axis=1, initial=0.0), first_pair)
        max_c = np.maximum.reduceat(np.where(window_p, np.abs(cost), 0.0).max(axis=1, initial=0.0), first_pair)
        e_ref = np.where(np.isfinite(base_e) & (base_e > 0), base_e, np.where(max_e > 0, max_e, 1.0))
        c_ref = np.where(np.isfinite(base_c) & (base_c != 0), np.abs(base_c), np.where(max_c > 0, max_c, 1.0))

    wts = prep.weights[sl][pair_row]
    wait = ((start - t0) / prep.acceptable_wait[sl][:, None])[pair_row, pair_col]
    with np.errstate(invalid="ignore"):
        score = (
            wts[:, 0, None] * (emissions / e_ref[pair_row][:, None])
            + wts[:, 1, None] * np.where(known_p, cost / c_ref[pair_row][:, None], 0.0)
            + wts[:, 2, None] * wait[:, None]
        )
    score = np.where(fc_ok & carbon_ok & price_ok, score, np.inf)

    def spread(values: npt.NDArray, fill: object) -> npt.NDArray:
        out = np.full((b, z, t + 1), fill, dtype=values.dtype)
        out[pair_row, :, pair_col] = values
        return out

    return OptionArrays(
        start,
        fa,
        ce,
        time_ok,
        in_grid,
        spread(known_i, False),
        spread(known_p, False),
        spread(fc_ok, False),
        spread(carbon_ok, False),
        spread(price_ok, False),
        spread(emissions, np.nan),
        spread(cost, np.nan),
        spread(mean_i, np.nan),
        spread(mean_p, np.nan),
        spread(score, np.inf),
        e_ref,
        c_ref,
        base_e,
        base_c,
    )
