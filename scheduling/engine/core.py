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
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from .diagnose import diagnose
from .energy import estimate_energy_kwh
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


def _gather(arr: FloatArray, idx: IntArray) -> FloatArray:
    """``arr[:, idx]`` for arr (Z, T+1), idx (B, S) -> (B, Z, S)."""
    return np.take(arr, idx, axis=1).transpose(1, 0, 2)


def evaluate_options(prob: Problem, pw: _Prepared, sl: slice) -> OptionArrays:
    """Compute every capacity-independent quantity for workloads ``sl`` at once."""
    t = prob.n_slots
    b = sl.stop - sl.start
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
    fra = np.where(in_grid, a - fa, 0.0)[:, None, :]
    fre = np.where(in_grid, e - fe, 0.0)[:, None, :]
    length = (dur / SLOT_SECONDS)[:, :, None]  # (B,1,1)
    energy = pw.energy[sl][:, None, None]

    def window(series: _Series) -> tuple[FloatArray, BoolArray]:
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

    price_req = pw.price_required[sl][:, None, None]
    fc_ok = time_ok[:, None, :] & known_i & (known_p | ~price_req)
    with np.errstate(invalid="ignore"):
        carbon_ok = emissions <= pw.ccap[sl][:, None, None]
        price_ok = (cost <= pw.pcap[sl][:, None, None]) | ~pw.has_pcap[sl][:, None, None]

    # Baseline: start now in the host zone, whatever the constraints say.
    rows = np.arange(b)
    host = pw.host[sl]
    has_host = host >= 0
    hz = np.where(has_host, host, 0)
    base_e = np.where(has_host, emissions[rows, hz, 0], np.nan) if prob.codes else np.full(b, np.nan)
    base_c = np.where(has_host, cost[rows, hz, 0], np.nan) if prob.codes else np.full(b, np.nan)

    window_i = time_ok[:, None, :] & known_i
    window_p = time_ok[:, None, :] & known_p
    with np.errstate(invalid="ignore"):
        max_e = np.max(np.where(window_i, emissions, 0.0), axis=(1, 2), initial=0.0)
        max_c = np.max(np.where(window_p, np.abs(cost), 0.0), axis=(1, 2), initial=0.0)
        e_ref = np.where(np.isfinite(base_e) & (base_e > 0), base_e, np.where(max_e > 0, max_e, 1.0))
        c_ref = np.where(np.isfinite(base_c) & (base_c != 0), np.abs(base_c), np.where(max_c > 0, max_c, 1.0))

    wts = pw.weights[sl]
    wait = (start - t0) / pw.acceptable_wait[sl][:, None]
    with np.errstate(invalid="ignore"):
        score = (
            wts[:, 0, None, None] * (emissions / e_ref[:, None, None])
            + wts[:, 1, None, None] * np.where(known_p, cost / c_ref[:, None, None], 0.0)
            + wts[:, 2, None, None] * wait[:, None, :]
        )
    score = np.where(fc_ok & carbon_ok & price_ok, score, np.inf)
    return OptionArrays(
        start,
        fa,
        ce,
        time_ok,
        in_grid,
        known_i,
        known_p,
        fc_ok,
        carbon_ok,
        price_ok,
        emissions,
        cost,
        mean_i,
        mean_p,
        score,
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
        ok = fit if ok is None else ok & fit
    if ok is None:
        return None
    z, t = ok.shape
    bad = np.zeros((z, t + 1), dtype=np.int32)
    np.cumsum(~ok, axis=1, out=bad[:, 1:])
    return (bad[:, end] - bad[:, first]) == 0


def _pick(score: FloatArray, emissions: FloatArray, start: FloatArray, top_k: int) -> list[tuple[int, int]]:
    """Best (zone, column) per zone, then top_k zones by (score, start, emissions, zone)."""
    col = np.argmin(score, axis=1)  # earliest column among equal scores = earliest start
    zones = np.arange(score.shape[0])
    best = score[zones, col]
    feasible = np.flatnonzero(np.isfinite(best))
    if feasible.size == 0:
        return []
    c = col[feasible]
    order = np.lexsort((feasible, emissions[feasible, c], start[c], best[feasible]))
    return [(int(feasible[o]), int(c[o])) for o in order[:top_k]]


def _build_plan(
    prob: Problem,
    pw: _Prepared,
    oa: OptionArrays,
    i: int,
    w: int,
    picks: list[tuple[int, int]],
    infeasible: Infeasibility | None,
) -> WorkloadPlan:
    wl = pw.workloads[i]
    duration = timedelta(minutes=wl.duration_mins)
    base_e = float(oa.base_e[w])
    base_c = float(oa.base_c[w])
    baseline = None
    if not math.isnan(base_e):
        baseline = Baseline(
            zone=prob.codes[int(pw.host[i])],
            start=pw.t0_dt[i],
            end=pw.t0_dt[i] + duration,
            emissions_g=base_e,
            cost_gbp=None if math.isnan(base_c) else base_c,
        )
    options = []
    wc, wp_, ww = pw.weights[i]
    for z, j in picks:
        start = pw.t0_dt[i] if j == 0 else prob.slot_time(j - 1)
        em = float(oa.emissions[w, z, j])
        cost = float(oa.cost[w, z, j])
        cost_v = None if math.isnan(cost) else cost
        mp = float(oa.mean_p[w, z, j])
        wait_s = float(oa.start[w, j] - pw.t0[i])
        parts = ScoreParts(
            carbon=em / float(oa.e_ref[w]),
            price=0.0 if cost_v is None else cost_v / float(oa.c_ref[w]),
            wait=wait_s / float(pw.acceptable_wait[i]),
        )
        options.append(
            Option(
                zone=prob.codes[z],
                start=start,
                end=start + duration,
                emissions_g=em,
                emissions_kg=em / 1000.0,
                cost_gbp=cost_v,
                carbon_saving_g=None if baseline is None else base_e - em,
                cost_saving_gbp=None if (baseline is None or cost_v is None or math.isnan(base_c)) else base_c - cost_v,
                score=float(oa.score[w, z, j]),
                score_parts=parts,
                mean_intensity=float(oa.mean_i[w, z, j]),
                mean_price=None if math.isnan(mp) else mp,
                wait_mins=wait_s / 60.0,
            )
        )
    return WorkloadPlan(
        key=wl.key,
        options=options,
        baseline=baseline,
        infeasible=infeasible,
        energy_kwh_used=float(pw.energy[i]),
        energy_was_estimated=bool(pw.estimated[i]),
    )


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

    for lo in range(0, len(ordered), CHUNK_SIZE):
        sl = slice(lo, min(lo + CHUNK_SIZE, len(ordered)))
        oa = evaluate_options(prob, pw, sl)
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
                f, e = first[j], end[j]
                for r in range(3):
                    if needs[r] > 0:
                        prob.free[r, z, f:e] -= needs[r]
                        prob.reserved[r, z, f:e] += needs[r]
            plans[order[i]] = _build_plan(prob, pw, oa, i, w, picks, infeasible)
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
