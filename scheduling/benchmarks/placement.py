"""Placement under binding capacity: greedy, Pylon's placement step, and an exact MILP, side by side.

Instances are generated from the repo's NESO regional trace (``zones/data/``, the 14 DNO regions,
the first 48-hour stretch) with a fixed seed: ``generate_workloads`` of the carbon benchmark,
CARBON_FIRST weights, and GPUs per zone from a fraction of the workloads' demand, so the cleanest
zones cannot hold everyone and, at heavy contention, not everyone can run (``CONTENTION``).
Each instance is solved three ways over the very same options
(every feasible zone and start of every workload, as the engine evaluates them):

* **greedy** — the engine with ``optimise=False``: priority order, each workload its best option
  that still fits;
* **Pylon** — the engine as it runs (``schedule_batch``), greedy then ``placement.improve``;
* **exact** — HiGHS (highspy) on the whole compact MILP (``exact``), Pylon's placement handed over
  as its first incumbent: the most workloads placed, then the most carbon saved, within a time
  limit per phase ("optimal" when HiGHS proved both; otherwise its dual bounds cap the count, "max
  placed", and the saving, and Pylon's share is of the bound).

Carbon saved is against each workload running at once in its host zone, on the forecast the
engine decides on. Run: ``python manage.py benchmark_placement`` (``--quick`` for fewer instances).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from scheduling.benchmarks import exact
from scheduling.benchmarks.carbon import contiguous_segments, generate_workloads, load_uk_regional
from scheduling.engine import CARBON_FIRST, placement, schedule_batch

#: By contention level: the share of the workloads' average GPU demand the ``CLEAN_ZONES`` cleanest
#: zones hold between them, and the GPUs of each other zone (a dirtier fallback). "light": the clean
#: zones bind at peaks, the rest have room; "medium": the clean zones bind, fallback room is scarce;
#: "heavy": no fallback, so not every workload can run.
CONTENTION: dict[str, tuple[float, int]] = {"light": (1.0, 8), "medium": (0.6, 4), "heavy": (0.4, 0)}
CLEAN_ZONES = 3
#: Half hours over which the instances' runs spread (submitted in the first 12 hours, deferrable up to
#: a day): the span the average GPU demand is taken over.
BUSY_SLOTS = 48
SIZES = (50, 100, 200)
SEEDS = (1, 2)
LARGE = 1000
EXACT_SECONDS = 45.0


@dataclass
class Solved:
    placed: int
    saved_kg: float
    seconds: float  # the whole engine pass
    step: float = 0.0  # of which the placement step


@dataclass
class Reference:
    placed: int
    saved_kg: float
    seconds: float
    status: str
    bound_kg: float  # no placement placing at least ``placed`` saves more
    count_bound: int  # no placement places more

    @property
    def gap(self) -> float:
        return 0.0 if self.bound_kg <= 0 else max(0.0, (self.bound_kg - self.saved_kg) / self.bound_kg)


@dataclass
class Row:
    n: int
    level: str
    seed: int
    greedy: Solved
    pylon: Solved
    exact: Reference | None


def instance(n: int, level: str, seed: int):
    """Workloads, zones and grid of one instance; ``now`` is the trace segment's start.

    The ``CLEAN_ZONES`` zones of least mean intensity share ``CONTENTION[level][0]`` of the workloads'
    average GPU demand (GPU half hours over ``BUSY_SLOTS``; each at least the widest workload's GPUs),
    every other zone has ``CONTENTION[level][1]`` GPUs."""
    segment = next(s for s in contiguous_segments(load_uk_regional(), 96))
    workloads = generate_workloads(n, segment.zone_codes, segment.start, 96, seed=seed, carbon_cap_share=0.0)
    # Submitted within the first 12 hours so that the runs overlap: a busy morning.
    workloads = [replace(w, submitted_at=segment.start + (w.submitted_at - segment.start) / 4) for w in workloads]
    share, fallback = CONTENTION[level]
    demand = sum(w.gpu_mins / 30.0 for w in workloads) / BUSY_SLOTS
    widest = max((math.ceil(w.gpus) for w in workloads), default=1)
    clean = max(widest, math.ceil(share * demand / CLEAN_ZONES))
    cleanest = set(np.argsort(np.nanmean(segment.values, axis=1), kind="stable")[:CLEAN_ZONES].tolist())
    zones = [
        replace(zone, gpu_capacity=float(clean if z in cleanest else fallback))
        for z, zone in enumerate(segment.zones())
    ]
    return workloads, zones, segment.grid(), segment.start


@contextmanager
def _captured():
    """Record what the engine hands the placement step (the options, needs, free capacity, greedy)."""
    real, seen = placement.improve, {}

    def spy(cand, needs, free, greedy, worth=None, **kwargs):
        started = time.perf_counter()
        choice = real(cand, needs, free, greedy, worth, **kwargs)
        seen.update(cand=cand, needs=needs, free=free, greedy=greedy, worth=worth, choice=choice)
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


def solve(
    n: int, level: str, seed: int, *, with_exact: bool = True, repeats: int = 1, budget: float = placement.TIME_BUDGET
) -> Row:
    """One instance three ways. Greedy's and Pylon's passes alternate ``repeats`` times (the machine is
    shared: alternating puts both under the same load); the fastest of each counts."""
    workloads, zones, grid, now = instance(n, level, seed)
    greedy_seconds, pylon_seconds, step_seconds = math.inf, math.inf, math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        schedule_batch(workloads, zones, grid, None, CARBON_FIRST, now, optimise=False)
        greedy_seconds = min(greedy_seconds, time.perf_counter() - started)
        with _captured() as seen:
            started = time.perf_counter()
            result = schedule_batch(workloads, zones, grid, None, CARBON_FIRST, now, placement_seconds=budget)
            pylon_seconds = min(pylon_seconds, time.perf_counter() - started)
        step_seconds = min(step_seconds, seen["seconds"])
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
    pylon = Solved(*_saved(cand, base, seen["choice"]), pylon_seconds, step_seconds)
    best = None
    if with_exact:
        started = time.perf_counter()
        found = exact.solve(
            cand,
            needs,
            free,
            base,
            must=seen["greedy"] >= 0,
            placed_already=pylon.placed,
            start=seen["choice"],
            time_limit=EXACT_SECONDS,
        )
        placed, saved = _saved(cand, base, found.choice)
        best = Reference(
            placed, saved, time.perf_counter() - started, found.status, found.saving_bound / 1000.0, found.count_bound
        )
    return Row(n, level, seed, greedy, pylon, best)


def _share(part: float, whole: float) -> str:
    return "—" if whole <= 0 else f"{100.0 * part / whole:.1f}%"


def format_rows(rows: Sequence[Row]) -> str:
    """One line per instance. "% of opt" is of the proven optimum's saving, or, when HiGHS could not
    prove its best within the limit, of its bound on it (so a lower bound on the true share); "% of
    HiGHS" is of the best placement HiGHS found (which may place more). "x greedy" is the placement
    step's time over greedy's whole engine pass, measured in the same run."""
    head = (
        f"{'instance':<17} | {'greedy placed':>13} {'saved kg':>8} | {'Pylon placed':>12} {'saved kg':>8} "
        f"{'% of opt':>8} {'% of HiGHS':>10} {'step s':>6} {'x greedy':>8} | {'exact placed':>12} {'saved kg':>8} "
        f"{'bound kg':>8} {'gap':>6} {'max placed':>10} {'status':>10} {'time s':>6}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        e, g, p = row.exact, row.greedy, row.pylon
        name = f"{row.n} {row.level} s{row.seed}"
        line = f"{name:<17} | {g.placed:>13} {g.saved_kg:>8.1f} | {p.placed:>12} {p.saved_kg:>8.1f} "
        ratio = f"{p.step / g.seconds:>7.2f}x"
        if e is None:
            line += f"{'—':>8} {'—':>10} {p.step:>6.2f} {ratio} |"
        else:
            # No bound when HiGHS's second phase ended without one (then neither the share of it nor a gap).
            whole = e.saved_kg if e.status == "optimal" else e.bound_kg
            bounded = math.isfinite(e.bound_kg)
            line += (
                f"{_share(p.saved_kg, whole) if bounded else '—':>8} {_share(p.saved_kg, e.saved_kg):>10} "
                f"{p.step:>6.2f} {ratio} | {e.placed:>12} {e.saved_kg:>8.1f} "
                f"{f'{e.bound_kg:.1f}' if bounded else '—':>8} {f'{100.0 * e.gap:.2f}%' if bounded else '—':>6} "
                f"{e.count_bound:>10} {e.status:>10} {e.seconds:>6.1f}"
            )
        lines.append(line)
    return "\n".join(lines)


def large(level: str = "medium", seed: int = 1, budget: float = placement.TIME_BUDGET) -> str:
    """1,000 workloads x 14 zones x 96 half hours: the placement step's time beside greedy's pass."""
    row = solve(LARGE, level, seed, with_exact=False, repeats=3, budget=budget)
    g, p = row.greedy, row.pylon
    return (
        f"{LARGE} workloads x 14 zones x 96 half hours, {level} contention, seed {seed} "
        f"(fastest of 3 alternating runs; load average {_load()}):\n"
        f"  greedy engine pass {g.seconds:.2f} s: placed {g.placed}, saved {g.saved_kg:.1f} kg\n"
        f"  Pylon (greedy + placement step) {p.seconds:.2f} s, of which the placement step {p.step:.2f} s "
        f"({p.step / g.seconds:.2f}x greedy's pass; budget {budget:.1f} s): placed {p.placed}, "
        f"saved {p.saved_kg:.1f} kg ({_share(p.saved_kg - g.saved_kg, g.saved_kg)} more than greedy)"
    )


def _load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"
    except OSError:  # not every platform has one
        return "unknown"


def main(*, quick: bool = False, budget: float = placement.TIME_BUDGET) -> str:
    sizes, seeds = ((50, 200), (1,)) if quick else (SIZES, SEEDS)
    started = _load()
    rows = [solve(n, level, seed, budget=budget) for n in sizes for level in CONTENTION for seed in seeds]
    head = (
        f"Placement step budget {budget:.1f} s; load average at the start: {started}, before the large run: {_load()}\n"
    )
    return head + format_rows(rows) + "\n\n" + large(budget=budget)
