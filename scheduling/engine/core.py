"""Vectorised option evaluation, scoring and greedy batch placement.

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
* **Batches** are placed in priority order (urgency, then deadline slack, then
  submission time, then input order). All capacity-independent quantities are
  computed for a chunk of workloads at once; then each workload in turn gets a
  per-slot capacity mask (one cumulative sum over zones x slots), picks its
  best option per zone, and its best option reserves capacity before the next
  workload is considered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from .diagnose import diagnose
from .energy import estimate_energy_kwh
from .rangemin import RangeMin
from .types import (
    SLOT,
    URGENCY_ACCEPTABLE_WAIT_SHARE,
    URGENCY_RANK,
    Baseline,
    BatchResult,
    Constraint,
    FloatArray,
    ForecastGrid,
    Infeasibility,
    Option,
    PolicyWeights,
    Reservations,
    ScoreParts,
    WorkloadInput,
    WorkloadPlan,
    ZoneInput,
    as_utc,
)

SLOT_SECONDS: float = SLOT.total_seconds()
CAPACITY_TOLERANCE: float = 1e-9
"""Free capacity may fall short of the need by this much (float noise)."""
CHUNK_SIZE: int = 128
"""Workloads evaluated per vectorised pass; bounds memory to ~Z*(T+1)*CHUNK floats per array."""

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


# --------------------------------------------------------------------------- problem


@dataclass
class _Series:
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
    def build(cls, values: FloatArray) -> _Series:
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
    intensity: _Series
    price: _Series
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
            list(zones), codes, grid.start, t, _Series.build(intensity), _Series.build(price), capacity, reserved, free
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


# --------------------------------------------------------------------------- workloads


@dataclass
class _Prepared:
    """Per-workload scalars as arrays (one entry per workload, priority order)."""

    workloads: list[WorkloadInput]
    energy: FloatArray
    estimated: BoolArray
    t0: FloatArray  # seconds after grid start
    t0_dt: list[datetime]
    dur: FloatArray  # seconds
    latest: FloatArray  # latest allowed start, seconds
    may_defer: BoolArray
    deadline: FloatArray  # seconds, inf = none
    ccap: FloatArray  # inf = none
    pcap: FloatArray  # inf = none
    has_pcap: BoolArray
    host: IntArray  # zone index, -1 = none/unknown
    weights: FloatArray  # (B, 3)
    acceptable_wait: FloatArray  # seconds, > 0
    price_required: BoolArray
    needs: FloatArray  # (B, 3) gpu, cpu, memory


def _resolve_weights(
    workloads: Sequence[WorkloadInput], weights: PolicyWeights | Mapping[str, PolicyWeights]
) -> list[PolicyWeights]:
    if isinstance(weights, PolicyWeights):
        return [weights] * len(workloads)
    out = []
    for w in workloads:
        if w.key not in weights:
            raise KeyError(f"no policy weights for workload {w.key!r}")
        out.append(weights[w.key])
    return out


def _prepare(
    workloads: Sequence[WorkloadInput], weights: Sequence[PolicyWeights], prob: Problem, now: datetime
) -> _Prepared:
    n = len(workloads)
    zindex = {c: i for i, c in enumerate(prob.codes)}
    energy = np.empty(n)
    estimated = np.zeros(n, dtype=bool)
    t0 = np.empty(n)
    t0_dt: list[datetime] = []
    dur = np.empty(n)
    latest = np.empty(n)
    may_defer = np.zeros(n, dtype=bool)
    deadline = np.full(n, np.inf)
    ccap = np.full(n, np.inf)
    pcap = np.full(n, np.inf)
    has_pcap = np.zeros(n, dtype=bool)
    host = np.full(n, -1, dtype=np.intp)
    wts = np.empty((n, 3))
    acc = np.empty(n)
    needs = np.empty((n, 3))
    gs = prob.grid_start
    for i, w in enumerate(workloads):
        if w.energy_kwh is None:
            energy[i] = estimate_energy_kwh(w.duration_mins, w.gpu_mins, w.cpu_cores, w.memory_gb)
            estimated[i] = True
        else:
            energy[i] = w.energy_kwh
        start = max(now, w.submitted_at)
        t0_dt.append(start)
        t0[i] = (start - gs).total_seconds()
        dur[i] = w.duration_mins * 60.0
        may_defer[i] = w.may_defer
        window_end = (w.submitted_at + timedelta(minutes=w.deferral_window_mins) - gs).total_seconds()
        latest[i] = max(t0[i], window_end) if may_defer[i] else t0[i]
        if w.deadline is not None:
            deadline[i] = (w.deadline - gs).total_seconds()
        if w.carbon_cap_g is not None:
            ccap[i] = w.carbon_cap_g
        if w.price_cap_gbp is not None:
            pcap[i] = w.price_cap_gbp
            has_pcap[i] = True
        if w.host_zone is not None and w.host_zone in zindex:
            host[i] = zindex[w.host_zone]
        pw = weights[i]
        wts[i] = (pw.carbon, pw.price, pw.wait)
        share = URGENCY_ACCEPTABLE_WAIT_SHARE[w.urgency]
        acc[i] = max(share * (latest[i] - t0[i]), SLOT_SECONDS)
        needs[i] = (w.gpus, w.cpu_cores, w.memory_gb)
    price_required = has_pcap | (wts[:, 1] > 0)
    return _Prepared(
        list(workloads),
        energy,
        estimated,
        t0,
        t0_dt,
        dur,
        latest,
        may_defer,
        deadline,
        ccap,
        pcap,
        has_pcap,
        host,
        wts,
        acc,
        price_required,
        needs,
    )


def priority_order(workloads: Sequence[WorkloadInput], now: datetime) -> list[int]:
    """Indices of ``workloads`` in scheduling priority order.

    Urgency first (CRITICAL > HIGH > MEDIUM > LOW), then deadline slack
    ascending (time left after the earliest possible finish; no deadline =
    infinite slack), then submission time, then input order (stable).
    """
    now = as_utc(now, "now")

    def key(i: int) -> tuple[int, float, datetime, int]:
        w = workloads[i]
        if w.deadline is None:
            slack = math.inf
        else:
            slack = (w.deadline - max(now, w.submitted_at)).total_seconds() - 60.0 * w.duration_mins
        return (URGENCY_RANK[w.urgency], slack, w.submitted_at, i)

    return sorted(range(len(workloads)), key=key)


# --------------------------------------------------------------------------- vectorised pass


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


def evaluate_options(prob: Problem, pw: _Prepared, sl: slice) -> OptionArrays:
    """Compute every capacity-independent quantity for workloads ``sl`` at once.

    Only the columns a workload may take (its time window, ``time_ok``) and column 0 (the host-now
    baseline) are evaluated — on average a tenth of them — as a flat list of (workload, column)
    pairs; elsewhere ``score`` is inf and ``fc_ok`` False (as they would be), and the other
    (B, Z, S) arrays hold NaN or False, which nothing reads.
    """
    t = prob.n_slots
    b = sl.stop - sl.start
    z = len(prob.codes)
    t0 = pw.t0[sl][:, None]
    dur = pw.dur[sl][:, None]
    aligned = np.arange(t, dtype=np.float64) * SLOT_SECONDS
    start = np.empty((b, t + 1))
    start[:, 0] = pw.t0[sl]
    start[:, 1:] = aligned[None, :]
    end = start + dur

    time_ok = np.empty((b, t + 1), dtype=bool)
    time_ok[:, 0] = True
    time_ok[:, 1:] = pw.may_defer[sl][:, None] & (aligned[None, :] > t0) & (aligned[None, :] <= pw.latest[sl][:, None])
    time_ok &= end <= pw.deadline[sl][:, None]

    a = start / SLOT_SECONDS
    e = end / SLOT_SECONDS
    in_grid = (a >= 0.0) & (e <= t)
    fa = np.clip(np.floor(a), 0, t).astype(np.intp)
    fe = np.clip(np.floor(e), 0, t).astype(np.intp)
    ce = np.clip(np.ceil(e), 0, t).astype(np.intp)

    # The (workload, column) pairs evaluated, grouped by workload (row-major), each with (Z,) values.
    wanted = time_ok.copy()
    wanted[:, 0] = True
    pw_, ps = np.nonzero(wanted)
    p_in = in_grid[pw_, ps][:, None]
    p_fa, p_fe, p_ce = fa[pw_, ps], fe[pw_, ps], ce[pw_, ps]
    fra = np.where(p_in, a[pw_, ps][:, None] - p_fa[:, None], 0.0)
    fre = np.where(p_in, e[pw_, ps][:, None] - p_fe[:, None], 0.0)
    length = (pw.dur[sl] / SLOT_SECONDS)[pw_][:, None]
    energy = pw.energy[sl][pw_][:, None]

    def window(series: _Series) -> tuple[FloatArray, BoolArray]:
        cum, pad, nan_cum = series.cum_t, series.pad_t, series.nan_cum_t  # (T+1, Z): rows gather to (P, Z)
        upper = cum[p_fe] + fre * pad[p_fe]
        lower = cum[p_fa] + fra * pad[p_fa]
        mean = (upper - lower) / length
        known = ((nan_cum[p_ce] - nan_cum[p_fa]) == 0) & p_in
        return mean, known

    mean_i, known_i = window(prob.intensity)
    mean_p, known_p = window(prob.price)
    mean_i = np.where(known_i, mean_i, np.nan)
    mean_p = np.where(known_p, mean_p, np.nan)
    emissions = energy * mean_i
    cost = energy * mean_p

    p_time = time_ok[pw_, ps][:, None]
    price_req = pw.price_required[sl][pw_][:, None]
    fc_ok = p_time & known_i & (known_p | ~price_req)
    with np.errstate(invalid="ignore"):
        carbon_ok = emissions <= pw.ccap[sl][pw_][:, None]
        price_ok = (cost <= pw.pcap[sl][pw_][:, None]) | ~pw.has_pcap[sl][pw_][:, None]

    # Baseline: start now in the host zone, whatever the constraints say. Column 0 of each workload
    # is its first pair.
    first_pair = np.searchsorted(pw_, np.arange(b))
    host = pw.host[sl]
    has_host = host >= 0
    hz = np.where(has_host, host, 0)
    base_e = np.where(has_host, emissions[first_pair, hz], np.nan) if prob.codes else np.full(b, np.nan)
    base_c = np.where(has_host, cost[first_pair, hz], np.nan) if prob.codes else np.full(b, np.nan)

    window_i = p_time & known_i
    window_p = p_time & known_p
    with np.errstate(invalid="ignore"):
        # Per workload: the max over its pairs and zones (exact, so the grouping does not matter).
        max_e = np.maximum.reduceat(np.where(window_i, emissions, 0.0).max(axis=1, initial=0.0), first_pair)
        max_c = np.maximum.reduceat(np.where(window_p, np.abs(cost), 0.0).max(axis=1, initial=0.0), first_pair)
        e_ref = np.where(np.isfinite(base_e) & (base_e > 0), base_e, np.where(max_e > 0, max_e, 1.0))
        c_ref = np.where(np.isfinite(base_c) & (base_c != 0), np.abs(base_c), np.where(max_c > 0, max_c, 1.0))

    wts = pw.weights[sl][pw_]
    wait = ((start - t0) / pw.acceptable_wait[sl][:, None])[pw_, ps]
    with np.errstate(invalid="ignore"):
        score = (
            wts[:, 0, None] * (emissions / e_ref[pw_][:, None])
            + wts[:, 1, None] * np.where(known_p, cost / c_ref[pw_][:, None], 0.0)
            + wts[:, 2, None] * wait[:, None]
        )
    score = np.where(fc_ok & carbon_ok & price_ok, score, np.inf)

    def spread(values: npt.NDArray, fill: object) -> npt.NDArray:
        out = np.full((b, z, t + 1), fill, dtype=values.dtype)
        out[pw_, :, ps] = values
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


# --------------------------------------------------------------------------- greedy


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


def _build_plans(
    prob: Problem,
    pw: _Prepared,
    oa: OptionArrays,
    lo: int,
    done: list[tuple[int, list[tuple[int, int]], Infeasibility | None]],
    slot_times: list[datetime],
) -> list[WorkloadPlan]:
    """The plans of a chunk (``done[w]`` = picks and infeasibility of chunk row ``w``, workload
    ``lo + w``). Every figure is gathered once per array for the whole chunk; ``tolist()`` gives
    the same Python floats as ``float()`` of each element, and the arithmetic below is the same
    float arithmetic, so the plans are exactly those of building them one at a time."""
    b = len(done)
    rows = [w for w, (picks, _) in enumerate(done) for _ in picks]
    if rows:
        ws = np.array(rows, dtype=np.intp)
        zs = np.array([z for picks, _ in done for z, _ in picks], dtype=np.intp)
        js = np.array([j for picks, _ in done for _, j in picks], dtype=np.intp)
        em_l = oa.emissions[ws, zs, js].tolist()
        cost_l = oa.cost[ws, zs, js].tolist()
        mp_l = oa.mean_p[ws, zs, js].tolist()
        mi_l = oa.mean_i[ws, zs, js].tolist()
        score_l = oa.score[ws, zs, js].tolist()
        wait_l = (oa.start[ws, js] - pw.t0[lo + ws]).tolist()
    sl = slice(lo, lo + b)
    base_e_l = oa.base_e.tolist()
    base_c_l = oa.base_c.tolist()
    e_ref_l = oa.e_ref.tolist()
    c_ref_l = oa.c_ref.tolist()
    acc_l = pw.acceptable_wait[sl].tolist()
    energy_l = pw.energy[sl].tolist()
    estimated_l = pw.estimated[sl].tolist()
    host_l = pw.host[sl].tolist()
    codes = prob.codes
    plans = []
    k = 0  # position in the gathered lists
    for w, (picks, infeasible) in enumerate(done):
        i = lo + w
        wl = pw.workloads[i]
        t0_dt = pw.t0_dt[i]
        duration = timedelta(minutes=wl.duration_mins)
        base_e = base_e_l[w]
        base_c = base_c_l[w]
        baseline = None
        if not math.isnan(base_e):
            baseline = Baseline(
                zone=codes[host_l[w]],
                start=t0_dt,
                end=t0_dt + duration,
                emissions_g=base_e,
                cost_gbp=None if math.isnan(base_c) else base_c,
            )
        options = []
        for z, j in picks:
            start = t0_dt if j == 0 else slot_times[j - 1]
            em = em_l[k]
            cost = cost_l[k]
            cost_v = None if math.isnan(cost) else cost
            mp = mp_l[k]
            wait_s = wait_l[k]
            parts = ScoreParts(
                carbon=em / e_ref_l[w],
                price=0.0 if cost_v is None else cost_v / c_ref_l[w],
                wait=wait_s / acc_l[w],
            )
            options.append(
                Option(
                    zone=codes[z],
                    start=start,
                    end=start + duration,
                    emissions_g=em,
                    emissions_kg=em / 1000.0,
                    cost_gbp=cost_v,
                    carbon_saving_g=None if baseline is None else base_e - em,
                    cost_saving_gbp=(
                        None if (baseline is None or cost_v is None or math.isnan(base_c)) else base_c - cost_v
                    ),
                    score=score_l[k],
                    score_parts=parts,
                    mean_intensity=mi_l[k],
                    mean_price=None if math.isnan(mp) else mp,
                    wait_mins=wait_s / 60.0,
                )
            )
            k += 1
        plans.append(
            WorkloadPlan(
                key=wl.key,
                options=options,
                baseline=baseline,
                infeasible=infeasible,
                energy_kwh_used=energy_l[w],
                energy_was_estimated=estimated_l[w],
            )
        )
    return plans


def _run(
    workloads: Sequence[WorkloadInput],
    zones: Sequence[ZoneInput],
    grid: ForecastGrid,
    reservations: Reservations | None,
    weights: PolicyWeights | Mapping[str, PolicyWeights],
    now: datetime,
    top_k: int,
    reserve: bool,
) -> BatchResult:
    if top_k < 1:
        raise ValueError("top_k must be >= 1")
    now = as_utc(now, "now")
    prob = Problem.build(zones, grid, reservations)
    order = priority_order(workloads, now)
    ordered = [workloads[i] for i in order]
    pw = _prepare(ordered, _resolve_weights(ordered, weights), prob, now)
    plans: list[WorkloadPlan | None] = [None] * len(workloads)

    if not prob.codes:
        for i, wl in enumerate(ordered):
            inf = Infeasibility(Constraint.NO_ZONES, "No zones are configured to run workloads in", {})
            plans[order[i]] = WorkloadPlan(wl.key, [], None, inf, float(pw.energy[i]), bool(pw.estimated[i]))
        return BatchResult(plans, [w.key for w in ordered], prob.reservations())  # type: ignore[arg-type]

    slot_times = [prob.slot_time(k) for k in range(prob.n_slots + 1)]
    for lo in range(0, len(ordered), CHUNK_SIZE):
        sl = slice(lo, min(lo + CHUNK_SIZE, len(ordered)))
        oa = evaluate_options(prob, pw, sl)
        done: list[tuple[list[tuple[int, int]], Infeasibility | None]] = []
        for w in range(sl.stop - sl.start):
            i = lo + w
            needs = pw.needs[i]
            first, end = oa.first_slot[w], oa.end_slot[w]
            fit = capacity_fit(prob, needs, first, end)
            score = oa.score[w] if fit is None else np.where(fit, oa.score[w], np.inf)
            picks = _pick(score, oa.emissions[w], oa.start[w], top_k)
            infeasible = None
            if not picks:
                infeasible = diagnose(prob, pw, oa, i, w, fit)
            elif reserve:
                z, j = picks[0]
                prob.reserve(z, int(first[j]), int(end[j]), needs)
            done.append((picks, infeasible))
        for w, plan in enumerate(_build_plans(prob, pw, oa, lo, done, slot_times)):
            plans[order[lo + w]] = plan
    return BatchResult(plans, [w.key for w in ordered], prob.reservations())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- public


def schedule_batch(
    workloads: Sequence[WorkloadInput],
    zones: Sequence[ZoneInput],
    grid: ForecastGrid,
    reservations: Reservations | None,
    weights: PolicyWeights | Mapping[str, PolicyWeights],
    now: datetime,
    top_k: int = 3,
) -> BatchResult:
    """Place many workloads, highest priority first, each reserving capacity.

    ``weights`` is one policy for all, or a mapping ``workload.key -> weights``
    (workloads of several organisations). The input ``reservations`` are not
    modified; the result carries the reservations after placing every
    workload's best option (rows in ``zones`` order). Plans are returned in
    input order; ``priority_order`` lists the keys in the order placed.
    """
    return _run(workloads, zones, grid, reservations, weights, now, top_k, reserve=True)


def rank_options(
    workload: WorkloadInput,
    zones: Sequence[ZoneInput],
    grid: ForecastGrid,
    reservations: Reservations | None,
    weights: PolicyWeights,
    now: datetime,
    top_k: int = 3,
) -> WorkloadPlan:
    """Rank one (possibly unsaved) workload's options without reserving anything.

    Used by the preview endpoint: the same evaluation as a batch of one,
    against the given reservations.
    """
    return _run([workload], zones, grid, reservations, weights, now, top_k, reserve=False).plans[0]


def run_footprint(
    grid: ForecastGrid, zone_code: str, start: datetime, duration_mins: float, energy_kwh: float
) -> tuple[float | None, float | None]:
    """Emissions (g) and cost (GBP) of a given run on ``grid``; None where unknown.

    The same time-weighted accounting as the options, for one run — e.g. to
    account a finished run on actual intensities.
    """
    row = grid.zone_codes.index(zone_code)
    a = (as_utc(start) - grid.start) / SLOT
    e = a + duration_mins / SLOT.total_seconds() * 60.0
    if a < 0 or e > grid.n_slots or duration_mins <= 0:
        return None, None
    out: list[float | None] = []
    assert grid.price is not None
    for values in (grid.intensity[row], grid.price[row]):
        f, l_ = math.floor(a), math.ceil(e)
        seg = values[f:l_]
        if np.isnan(seg).any():
            out.append(None)
            continue
        weights = np.ones(len(seg))
        weights[0] -= a - f
        weights[-1] -= l_ - e
        out.append(float(energy_kwh * np.dot(seg, weights) / (e - a)))
    return out[0], out[1]
