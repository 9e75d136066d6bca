"""Self-timing: recompute 10,000 synthetic workloads over 14 zones x 96 half hours.

``python -m scheduling.benchmarks.engine_speed [n_workloads]`` prints the wall time
of :func:`schedule_batch` (priority ordering, the vectorised option pass, the
greedy capacity reservation and building the plans) with limited capacity so
that the greedy pass really reserves and some workloads are diagnosed.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

import numpy as np

from scheduling.engine import BALANCED, ForecastGrid, Reservations, WorkloadInput, ZoneInput, schedule_batch

from .carbon import generate_workloads

N_ZONES = 14
N_SLOTS = 96


def synthetic_problem(
    n_workloads: int, seed: int = 7
) -> tuple[list[WorkloadInput], list[ZoneInput], ForecastGrid, Reservations, datetime]:
    """Seeded random zones, forecasts (daily shape + noise, a few NaN) and reservations."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    codes = [f"Z{z:02d}" for z in range(N_ZONES)]
    hours = np.arange(N_SLOTS) / 2.0
    base = rng.uniform(20, 300, size=(N_ZONES, 1))
    daily = 1 + 0.3 * np.sin(2 * np.pi * (hours - rng.uniform(0, 24, size=(N_ZONES, 1))) / 24)
    intensity = np.maximum(base * daily + rng.normal(0, 15, size=(N_ZONES, N_SLOTS)), 0.0)
    price = np.maximum(0.25 * daily + rng.normal(0, 0.03, size=(N_ZONES, N_SLOTS)), -0.05)
    intensity[rng.random(intensity.shape) < 0.002] = np.nan
    grid = ForecastGrid(start, codes, intensity, price)
    zones = [ZoneInput(c, 64.0, 1024.0, 8192.0) for c in codes]
    res = Reservations.empty(codes, N_SLOTS)
    res.gpu += rng.integers(0, 16, size=res.gpu.shape)
    res.cpu += rng.integers(0, 256, size=res.cpu.shape)
    workloads = generate_workloads(n_workloads, codes, start, N_SLOTS, seed, carbon_cap_share=0.2, price_cap_share=0.1)
    return workloads, zones, grid, res, start


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 10_000
    workloads, zones, grid, res, now = synthetic_problem(n)
    t = time.perf_counter()
    result = schedule_batch(workloads, zones, grid, res, BALANCED, now)
    elapsed = time.perf_counter() - t
    placed = sum(1 for p in result.plans if p.best is not None)
    print(
        f"schedule_batch: {n} workloads x {len(zones)} zones x {grid.n_slots} slots in {elapsed:.2f} s "
        f"({1e6 * elapsed / max(n, 1):.0f} us/workload); {placed} placed, {n - placed} infeasible"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
