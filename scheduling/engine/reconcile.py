"""Reconciling computed options against capacity held since they were computed.

The recompute computes options in parallel chunks, each against the capacity held when it started;
before its recommendations are stored, one short serialised step runs this against what is held
now (the ledger, and the best options other chunks have stored meanwhile). Workloads are taken in
priority order; each keeps the options that still fit, and the first of them holds its capacity for
the workloads after it. A workload with none left is returned for a recomputation against the
updated reservations. Pure: no Django.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from .types import SLOT, Reservations, ZoneInput, as_utc

TOLERANCE = 1e-9


@dataclass(frozen=True)
class Run:
    """One option of a workload: a zone and the interval it would run over."""

    zone: str
    start: datetime
    end: datetime


def reconcile(
    options: Sequence[Sequence[Run]],
    needs: Sequence[tuple[float, float, float]],
    zones: Sequence[ZoneInput],
    reservations: Reservations,
    grid_start: datetime,
) -> list[list[int]]:
    """For each workload (given in priority order), the indices of its options that fit.

    ``needs`` are (GPUs, cores, GB) per workload; ``reservations`` (modified in place) gain every
    kept first option. Half hours outside the grid are not checked (nothing is known of them).
    """
    row = {code: i for i, code in enumerate(reservations.zone_codes)}
    capacity = {z.code: (z.gpu_capacity, z.cpu_capacity, z.memory_gb_capacity) for z in zones}
    held = (reservations.gpu, reservations.cpu, reservations.memory)
    n_slots = reservations.gpu.shape[1]
    grid_start = as_utc(grid_start)
    kept: list[list[int]] = []
    for runs, need in zip(options, needs, strict=True):
        fitting = []
        for k, run in enumerate(runs):
            i = row.get(run.zone)
            if i is None:
                continue
            first = max(0, int(np.floor((as_utc(run.start) - grid_start) / SLOT)))
            end = min(n_slots, int(np.ceil((as_utc(run.end) - grid_start) / SLOT)))
            caps = capacity[run.zone]
            if all(
                need[r] <= 0 or end <= first or held[r][i, first:end].max() + need[r] <= caps[r] + TOLERANCE
                for r in range(3)
            ):
                fitting.append(k)
        if fitting:
            best = runs[fitting[0]]
            reservations.add_run(
                best.zone, best.start, best.end, grid_start, gpus=need[0], cpu_cores=need[1], memory_gb=need[2]
            )
        kept.append(fitting)
    return kept
