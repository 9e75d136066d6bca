"""The engine's entry points: place a batch, or rank one workload's options."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from . import placement
from .greedy import run
from .types import BatchResult, ForecastGrid, PolicyWeights, Reservations, WorkloadInput, WorkloadPlan, ZoneInput


def schedule_batch(
    workloads: Sequence[WorkloadInput],
    zones: Sequence[ZoneInput],
    grid: ForecastGrid,
    reservations: Reservations | None,
    weights: PolicyWeights | Mapping[str, PolicyWeights],
    now: datetime,
    top_k: int = 3,
    *,
    optimise: bool = True,
    placement_seconds: float | None = placement.TIME_BUDGET,
    placement_rounds: int = placement.MAX_ROUNDS,
) -> BatchResult:
    """Place many workloads, highest priority first, each reserving capacity; then, where capacity
    binds, improve the placement (:mod:`.placement`; ``optimise=False`` keeps greedy's, for
    comparison) within ``placement_seconds`` and ``placement_rounds`` search rounds (``None``
    seconds: the rounds alone bound it, so the result depends on the inputs alone).

    ``weights`` is one policy for all, or a mapping ``workload.key -> weights``
    (workloads of several organisations). The input ``reservations`` are not
    modified; the result carries the reservations after placing every
    workload's best option (rows in ``zones`` order). Plans are returned in
    input order; ``priority_order`` lists the keys in the order placed.
    """
    budget = placement.Budget(placement_seconds, placement_rounds) if optimise else None
    return run(workloads, zones, grid, reservations, weights, now, top_k, reserve=True, budget=budget)


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
    return run([workload], zones, grid, reservations, weights, now, top_k, reserve=False).plans[0]
