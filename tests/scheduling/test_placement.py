"""The placement step: better than greedy where greedy is provably wrong, priorities kept, capacity
never exceeded, and exactly greedy's answer when capacity does not bind."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from scheduling.benchmarks.engine_speed import synthetic_problem
from scheduling.engine import BALANCED, CARBON_FIRST, Urgency, schedule_batch
from tests.scheduling.test_engine import T0, grid, wl, zones


def _first(result) -> dict[str, tuple[str, object]]:
    return {plan.key: (plan.best.zone, plan.best.start) if plan.best else None for plan in result.plans}


def test_the_step_moves_the_urgent_workload_so_the_other_gets_the_clean_slot() -> None:
    # C (50 g/kWh) and N (51) hold one GPU each, D (400) nine. The urgent workload may run in any;
    # the other is capped at 50.5 g, which only C meets (1 kWh each, one hour, now only).
    g = grid({"C": [50] * 4, "N": [51] * 4, "D": [400] * 4})
    caps = (1.0, 1.0, 9.0)
    zs = [replace(z, gpu_capacity=cap) for z, cap in zip(zones("C", "N", "D"), caps, strict=True)]
    urgent = wl(key="urgent", urgency=Urgency.HIGH, gpu_mins=60.0, host_zone="D")
    capped = wl(key="capped", urgency=Urgency.LOW, gpu_mins=60.0, host_zone="D", carbon_cap_g=50.5)

    greedy = schedule_batch([urgent, capped], zs, g, None, CARBON_FIRST, T0, optimise=False)
    placed = schedule_batch([urgent, capped], zs, g, None, CARBON_FIRST, T0)

    # Greedy: the urgent one takes C, the capped one has nowhere to go (its cap rules out N and D).
    assert _first(greedy) == {"urgent": ("C", T0), "capped": None}
    # The step: the urgent one runs in N (1 g more), the capped one in C — both placed.
    assert _first(placed) == {"urgent": ("N", T0), "capped": ("C", T0)}
    assert placed.plans[1].infeasible is None
    assert placed.reservations.gpu.max() <= 1.0 + 1e-9


def test_a_more_urgent_workload_is_never_displaced_for_less_urgent_ones() -> None:
    # Two GPUs, one start: the critical workload needs both; two low ones need one each. Placing the
    # two low ones would place more, but the critical one keeps its place.
    g = grid({"A": [100] * 4})
    zs = [replace(zones("A")[0], gpu_capacity=2.0)]
    critical = wl(key="critical", urgency=Urgency.CRITICAL, gpu_mins=120.0)
    lows = [wl(key=f"low{k}", urgency=Urgency.LOW, gpu_mins=60.0) for k in range(2)]
    placed = schedule_batch([*lows, critical], zs, g, None, CARBON_FIRST, T0)
    assert _first(placed)["critical"] == ("A", T0)
    assert _first(placed)["low0"] is None and _first(placed)["low1"] is None


@pytest.mark.parametrize("seed, gpu_scale", [(3, 0.05), (4, 0.1), (5, 0.2)])
def test_capacity_is_never_exceeded_and_greedy_placements_stay_placed(seed: int, gpu_scale: float) -> None:
    workloads, zs, g, res, start = synthetic_problem(300, seed=seed)
    zs = [replace(z, gpu_capacity=z.gpu_capacity * gpu_scale) for z in zs]
    greedy = schedule_batch(workloads, zs, g, res, BALANCED, start, optimise=False)
    placed = schedule_batch(workloads, zs, g, res, BALANCED, start)

    # The input reservations may already exceed the scaled capacity; nothing is added where it would.
    capacity = np.array([[z.gpu_capacity, z.cpu_capacity, z.memory_gb_capacity] for z in zs]).T
    for r, name in enumerate(("gpu", "cpu", "memory")):
        held, before = getattr(placed.reservations, name), getattr(res, name)
        added = held - before
        assert (added >= -1e-9).all()
        assert (held[added > 1e-9] <= np.broadcast_to(capacity[r][:, None], held.shape)[added > 1e-9] + 1e-6).all()
    was = {p.key for p in greedy.plans if p.best is not None}
    now = {p.key for p in placed.plans if p.best is not None}
    assert was <= now


def test_when_capacity_does_not_bind_the_result_is_exactly_greedys() -> None:
    workloads, zs, g, res, start = synthetic_problem(300, seed=7)
    zs = [replace(z, gpu_capacity=1e9, cpu_capacity=1e9, memory_gb_capacity=1e9) for z in zs]
    greedy = schedule_batch(workloads, zs, g, res, BALANCED, start, optimise=False)
    placed = schedule_batch(workloads, zs, g, res, BALANCED, start)
    assert placed.plans == greedy.plans
    assert np.array_equal(placed.reservations.gpu, greedy.reservations.gpu)


def test_the_benchmarks_exact_reference_agrees_on_the_hand_made_case() -> None:
    pytest.importorskip("scipy")
    from scheduling.benchmarks import exact
    from scheduling.benchmarks import placement as bench

    g = grid({"C": [50] * 4, "N": [51] * 4, "D": [400] * 4})
    zs = [replace(z, gpu_capacity=cap) for z, cap in zip(zones("C", "N", "D"), (1.0, 1.0, 9.0), strict=True)]
    workloads = [
        wl(key="urgent", urgency=Urgency.HIGH, gpu_mins=60.0, host_zone="D"),
        wl(key="capped", urgency=Urgency.LOW, gpu_mins=60.0, host_zone="D", carbon_cap_g=50.5),
    ]
    with bench._captured() as seen:
        schedule_batch(workloads, zs, g, None, CARBON_FIRST, T0)
    cand, base = seen["cand"], np.array([400.0, 400.0])
    found = exact.solve(cand, seen["needs"], seen["free"], base, time_limit=10)
    assert found.status == "optimal"
    assert found.saving_bound == pytest.approx(800 - 101)
    assert bench._saved(cand, base, found.choice) == bench._saved(cand, base, seen["choice"]) == (2, (800 - 101) / 1000)


def test_the_reduction_keeps_only_options_that_can_matter() -> None:
    # One GPU in C (clean), plenty in D (dirty): two workloads want C at the same hour. D never binds,
    # so each keeps its cheapest D option and nothing dearer; C's cell binds and gets a row.
    from scheduling.engine.candidates import Candidates, reduce

    owner = np.array([0, 0, 0, 1, 1, 1])
    zone = np.array([0, 1, 1, 0, 1, 1])
    first = np.array([0, 0, 1, 0, 0, 1])
    cost = np.array([1.0, 5.0, 6.0, 1.0, 5.0, 7.0])
    cand = Candidates(owner, zone, first, first, first + 2, cost, np.array([0, 3, 6]))
    free = np.full((3, 2, 4), np.inf)
    free[0] = [[1.0] * 4, [10.0] * 4]
    needs = np.array([[1.0, 0, 0], [1.0, 0, 0]])
    alive, binding = reduce(cand, needs, free)
    assert alive.tolist() == [True, True, False, True, True, False]
    assert np.argwhere(binding).tolist() == [[0, 0, 0], [0, 0, 1]]


def test_the_exact_reference_keeps_the_priority_promise_when_asked() -> None:
    # Two GPUs, one start: the critical workload needs both, two low ones one each. The unconstrained
    # optimum places the two low ones; with greedy's placed kept (the step's promise) it is the critical.
    pytest.importorskip("scipy")
    from scheduling.benchmarks import exact
    from scheduling.benchmarks import placement as bench

    g = grid({"A": [100] * 4})
    zs = [replace(zones("A")[0], gpu_capacity=2.0)]
    critical = wl(key="critical", urgency=Urgency.CRITICAL, gpu_mins=120.0)
    lows = [wl(key=f"low{k}", urgency=Urgency.LOW, gpu_mins=60.0) for k in range(2)]
    with bench._captured() as seen:
        schedule_batch([*lows, critical], zs, g, None, CARBON_FIRST, T0)
    cand, base = seen["cand"], np.zeros(3)
    free_for_all = exact.solve(cand, seen["needs"], seen["free"], base, time_limit=10)
    promised = exact.solve(cand, seen["needs"], seen["free"], base, must=seen["greedy"] >= 0, time_limit=10)
    assert (free_for_all.choice >= 0).tolist() == [False, True, True]  # priority order: critical first
    assert (promised.choice >= 0).tolist() == [True, False, False]
    assert promised.status == free_for_all.status == "optimal"
