"""Placement under binding capacity: greedy, Pylon's placement step, and an exact MILP, side by side.

Instances are generated from the repo's NESO regional trace (``zones/data/``, the 14 DNO regions,
the first 48-hour stretch) with a fixed seed: ``generate_workloads`` of the carbon benchmark,
CARBON_FIRST weights, and GPU and CPU-core capacities per zone set so the cleanest zones cannot
hold everyone (``CONTENTION``). Each instance is solved three ways over the very same options
(every feasible zone and start of every workload, as the engine evaluates them):

* **greedy** — the engine with ``optimise=False``: priority order, each workload its best option
  that still fits;
* **Pylon** — the engine as it runs (``schedule_batch``), greedy then ``placement.improve``;
* **exact** — HiGHS through ``scipy.optimize.milp``, lexicographic: the most workloads placed,
  then the least emissions (so the most carbon saved among those placements), within a time limit
  per phase ("optimal" when HiGHS proved both phases).

Carbon saved is against each workload running at once in its host zone, on the forecast the
engine decides on. Run: ``python manage.py benchmark_placement`` (``--quick`` for fewer instances).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from scheduling.benchmarks.carbon import contiguous_segments, generate_workloads, load_uk_regional
from scheduling.engine import CARBON_FIRST, placement, schedule_batch

#: GPUs per zone per 50 workloads, by contention level (cores and memory do not bind).
CONTENTION: dict[str, float] = {"light": 8.0, "medium": 4.0, "heavy": 2.0}
SIZES = (50, 100, 200)
SEEDS = (1, 2)
LARGE = 1000
EXACT_SECONDS = 60.0


@dataclass
class Solved:
    placed: int
    saved_kg: float
    seconds: float
    status: str = ""


@dataclass
class Row:
    n: int
    level: str
    seed: int
    greedy: Solved
    pylon: Solved
    exact: Solved | None


def instance(n: int, level: str, seed: int):
    """Workloads, zones and grid of one instance; ``now`` is the trace segment's start."""
    segment = next(s for s in contiguous_segments(load_uk_regional(), 96))
    zones = [replace(zone, gpu_capacity=math.ceil(CONTENTION[level] * n / 50.0)) for zone in segment.zones()]
    workloads = generate_workloads(n, segment.zone_codes, segment.start, 96, seed=seed, carbon_cap_share=0.0)
    # Submitted within the first 12 hours so that the runs overlap: a busy morning.
    workloads = [replace(w, submitted_at=segment.start + (w.submitted_at - segment.start) / 4) for w in workloads]
    return workloads, zones, segment.grid(), segment.start


@contextmanager
def _captured():
    """Record what the engine hands the placement step (the options, needs, free capacity, greedy)."""
    real, seen = placement.improve, {}

    def spy(cand, needs, free, greedy, **kwargs):
        started = time.perf_counter()
        choice = real(cand, needs, free, greedy, **kwargs)
        seen.update(cand=cand, needs=needs, free=free, greedy=greedy, choice=choice)
        seen["seconds"] = time.perf_counter() - started
        return choice

    placement.improve = spy
    try:
        yield seen
    finally:
        placement.improve = real


def _saved(cand, base: np.ndarray, choice: np.ndarray) -> tuple[int, float]:
    placed = np.flatnonzero(choice >= 0)
    return len(placed), float((base[placed] - cand.cost[choice[placed]]).sum()) / 1000.0


def exact(
    cand, needs, free, base: np.ndarray, placed_already: int = 0, time_limit: float = EXACT_SECONDS
) -> tuple[np.ndarray, str]:
    """The lexicographic optimum (most placed, then least emissions) by HiGHS, within ``time_limit``
    per phase; ``placed_already`` (a known placement's count) skips the first phase when it places
    every workload that has an option."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    n, p_count = len(needs), len(cand.cost)
    z_count, t_count = free.shape[1], free.shape[2]
    rows, cols, vals = [cand.owner], [np.arange(p_count)], [np.ones(p_count)]
    upper = [np.ones(n)]
    offset = n
    lengths = cand.end - cand.first
    p_rep = np.repeat(np.arange(p_count), lengths)
    t_rep = np.concatenate([np.arange(a, b) for a, b in zip(cand.first, cand.end, strict=True)]) if p_count else p_rep
    for r in range(3):
        need = needs[cand.owner[p_rep], r]
        keep = (need > 0) & np.isfinite(free[r, cand.zone[p_rep], t_rep])
        rows.append(offset + cand.zone[p_rep][keep] * t_count + t_rep[keep])
        cols.append(p_rep[keep])
        vals.append(need[keep])
        upper.append(np.where(np.isfinite(free[r]), np.maximum(free[r], 0.0), np.inf).ravel())
        offset += z_count * t_count
    matrix = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(offset, p_count))
    capacity = LinearConstraint(matrix.tocsr(), -np.inf, np.concatenate(upper))
    integral, bounds = np.ones(p_count), Bounds(0, 1)
    options = {"time_limit": time_limit}
    placeable = int((cand.ptr[1:] > cand.ptr[:-1]).sum())
    if placed_already >= placeable:
        first = None  # everything that has an option is placed already: the first phase is proven
        count = placeable
    else:
        first = milp(-np.ones(p_count), constraints=[capacity], integrality=integral, bounds=bounds, options=options)
        if first.x is None:
            return np.full(n, -1), "no solution"
        count = int(round(-first.fun))
    at_least = LinearConstraint(np.ones((1, p_count)), count - 0.5, np.inf)
    second = milp(
        cand.cost - base[cand.owner],
        constraints=[capacity, at_least],
        integrality=integral,
        bounds=bounds,
        options=options,
    )
    if second.x is None and first is None:
        return np.full(n, -1), "no solution"
    x = second.x if second.x is not None else first.x
    status = "optimal" if (first is None or first.status == 0) and second.status == 0 else "time limit"
    choice = np.full(n, -1)
    for p in np.flatnonzero(x > 0.5):
        choice[cand.owner[p]] = p
    return choice, status


def solve(n: int, level: str, seed: int, *, with_exact: bool = True) -> Row:
    workloads, zones, grid, now = instance(n, level, seed)
    started = time.perf_counter()
    schedule_batch(workloads, zones, grid, None, CARBON_FIRST, now, optimise=False)
    greedy_seconds = time.perf_counter() - started
    with _captured() as seen:
        started = time.perf_counter()
        result = schedule_batch(workloads, zones, grid, None, CARBON_FIRST, now)
        pylon_seconds = time.perf_counter() - started
    plans = {plan.key: plan for plan in result.plans}
    base = np.array(
        [
            plans[key].baseline.emissions_g if plans[key].baseline is not None else np.nan
            for key in result.priority_order
        ]
    )
    base = np.nan_to_num(base)
    cand, needs, free = seen["cand"], seen["needs"], seen["free"]
    greedy = Solved(*_saved(cand, base, seen["greedy"]), greedy_seconds)
    pylon = Solved(*_saved(cand, base, seen["choice"]), pylon_seconds, f"{seen['seconds']:.2f} s step")
    best = None
    if with_exact:
        started = time.perf_counter()
        choice, status = exact(cand, needs, free, base, placed_already=pylon.placed)
        best = Solved(*_saved(cand, base, choice), time.perf_counter() - started, status)
    return Row(n, level, seed, greedy, pylon, best)


def _share(part: float, whole: float) -> str:
    return "—" if whole <= 0 else f"{100.0 * part / whole:.1f}%"


def format_rows(rows: Sequence[Row]) -> str:
    head = (
        f"{'n':>5} {'contention':<8} {'seed':>4} | {'greedy placed':>13} {'saved kg':>9} {'% of exact':>10} | "
        f"{'Pylon placed':>12} {'saved kg':>9} {'% of exact':>10} {'step':>9} | "
        f"{'exact placed':>12} {'saved kg':>9} {'status':>10} {'time s':>7}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        e = row.exact
        whole = e.saved_kg if e is not None else 0.0
        lines.append(
            f"{row.n:>5} {row.level:<8} {row.seed:>4} | {row.greedy.placed:>13} {row.greedy.saved_kg:>9.1f} "
            f"{_share(row.greedy.saved_kg, whole):>10} | {row.pylon.placed:>12} {row.pylon.saved_kg:>9.1f} "
            f"{_share(row.pylon.saved_kg, whole):>10} {row.pylon.status:>9} | "
            + (
                f"{e.placed:>12} {e.saved_kg:>9.1f} {e.status:>10} {e.seconds:>7.1f}"
                if e is not None
                else f"{'—':>12} {'—':>9} {'—':>10} {'—':>7}"
            )
        )
    return "\n".join(lines)


def large(level: str = "medium", seed: int = 1) -> str:
    """1,000 workloads x 14 zones x 96 half hours: the placement step's time beside greedy's."""
    row = solve(LARGE, level, seed, with_exact=False)
    step = float(row.pylon.status.split()[0])
    return (
        f"{LARGE} workloads x 14 zones x 96 half hours, {level} contention, seed {seed}:\n"
        f"  greedy engine pass {row.greedy.seconds:.2f} s: placed {row.greedy.placed}, "
        f"saved {row.greedy.saved_kg:.1f} kg\n"
        f"  Pylon (greedy + placement step) {row.pylon.seconds:.2f} s, of which the placement step {step:.2f} s "
        f"({step / row.greedy.seconds:.2f}x greedy's pass): placed {row.pylon.placed}, saved "
        f"{row.pylon.saved_kg:.1f} kg ({_share(row.pylon.saved_kg - row.greedy.saved_kg, row.greedy.saved_kg)} "
        "more than greedy)"
    )


def main(*, quick: bool = False) -> str:
    sizes, seeds = ((50, 200), (1,)) if quick else (SIZES, SEEDS)
    rows = [solve(n, level, seed) for n in sizes for level in CONTENTION for seed in seeds]
    return format_rows(rows) + "\n\n" + large()
