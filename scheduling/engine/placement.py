"""Near-optimal placement when capacity binds: Lagrangian prices, priority-order repair, local search.

Greedy placement (``core``) takes workloads in priority order and gives each its best option that
still fits. When capacity binds that is short-sighted: an urgent workload takes the one clean slot
although an almost-as-clean one was free, and the next workload, which had no such alternative,
runs dirty (or not at all). This module improves greedy's placement, keeping its promises:

* **Priorities hold.** Every workload greedy placed stays placed (it may move to another of its
  options, never lose its place), so nothing is displaced by less urgent work; a placement is only
  accepted when it places at least the workloads greedy placed.
* **Nothing changes when capacity does not bind**: when every workload got its own best option,
  greedy is optimal and is returned as it is.
* **Objective**: place as many workloads as possible, then minimise the sum of their costs, a
  cost being the option's policy score times the workload's reference emissions (so in grams under
  CARBON_FIRST; each workload ranks its own options exactly as its score does).

How (each step reuses flat, vectorised arrays of every feasible option of every workload):

1. **Lagrangian prices** ``λ[r, z, t]`` per resource, zone and half hour. Each iteration every
   workload picks the option of least *reduced cost* (its cost plus the price of the capacity it
   holds: one cumulative sum per zone and a gather), and prices rise where those picks exceed the
   free capacity and fall where it is idle (projected subgradient steps).
2. **Repair**: in priority order, each workload takes its least reduced-cost option that still fits
   — greedy, but looking ahead through the prices. The best valid repair is kept.
3. **Local search** on the best: moves of one workload to a cheaper option that fits, and ejection
   moves (a workload takes an option another holds, which moves to one of its own alternatives),
   while they lower the total, within the time budget.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .candidates import BoolArray, Candidates, IntArray, occupancy, reduce, touches
from .evaluate import OptionArrays, evaluate_options
from .plans import build_plans
from .prepare import Prepared
from .problem import Problem
from .types import FloatArray, Infeasibility, WorkloadPlan

TOLERANCE = 1e-9
#: Price iterations (each: one vectorised pricing pass and one repair). Fixed counts, not a clock,
#: keep the engine deterministic; the benchmark measures the time they take.
MAX_ITERATIONS = 24
#: A repair every this many price iterations (prices move little from one to the next).
REPAIR_EVERY = 4
#: Passes of local search over every workload.
MAX_PASSES = 2

#: Options per workload and zone the step considers at most, of those ``reduce`` keeps (a cap for
#: time, rarely reached: after the reduction a contended workload has a dozen or so per zone).
PER_ZONE = 100
#: Cheaper options of one workload tried by ejection in local search, and ejections per pass.
EJECTION_TRIES = 3
EJECTIONS_PER_PASS = 150


def _shortlist(cand: Candidates, greedy: IntArray, per_zone: int) -> IntArray:
    """Each workload's ``per_zone`` cheapest options in every zone, and greedy's choice (sorted indices)."""
    z_count = int(cand.zone.max()) + 1
    key = cand.owner * z_count + cand.zone
    by_group = np.lexsort((cand.col, cand.cost, key))
    group = key[by_group]
    starts = np.r_[True, group[1:] != group[:-1]]
    rank = np.arange(len(group)) - np.maximum.accumulate(np.where(starts, np.arange(len(group)), 0))
    keep = np.zeros(len(cand.cost), dtype=bool)
    keep[by_group[rank < per_zone]] = True
    keep[greedy[greedy >= 0]] = True
    return np.flatnonzero(keep)


class _State:
    """A placement (``choice[i]`` = option index or -1) and the capacity it leaves free."""

    def __init__(self, cand: Candidates, needs: FloatArray, free0: FloatArray, choice: IntArray):
        self.cand, self.needs, self.free0 = cand, needs, free0
        self.active = [np.flatnonzero(row > 0) for row in needs]  # the resources each workload needs
        self.free = free0.copy()
        self.choice = np.full(len(needs), -1, dtype=np.intp)
        for i in np.flatnonzero(choice >= 0):
            self.put(int(i), int(choice[i]))

    def clone(self) -> _State:
        other = object.__new__(_State)
        other.cand, other.needs, other.free0, other.active = self.cand, self.needs, self.free0, self.active
        other.free, other.choice = self.free.copy(), self.choice.copy()
        return other

    def put(self, i: int, p: int) -> None:
        c = self.cand
        self.free[:, c.zone[p], c.first[p] : c.end[p]] -= self.needs[i][:, None]
        self.choice[i] = p

    def take(self, i: int) -> None:
        p = self.choice[i]
        c = self.cand
        self.free[:, c.zone[p], c.first[p] : c.end[p]] += self.needs[i][:, None]
        self.choice[i] = -1

    def fits(self, i: int, p: int) -> bool:
        c = self.cand
        z, a, b = c.zone[p], c.first[p], c.end[p]
        return all(self.free[r, z, a:b].min(initial=np.inf) >= self.needs[i, r] - TOLERANCE for r in self.active[i])

    def fitting(self, i: int, options: IntArray) -> BoolArray:
        """Which of ``options`` (of workload ``i``) fit now: one cumulative count per resource."""
        c = self.cand
        ok = np.ones(len(options), dtype=bool)
        zone, first, end = c.zone[options], c.first[options], c.end[options]
        for r in self.active[i]:
            short = self.free[r] < self.needs[i, r] - TOLERANCE
            count = np.zeros((short.shape[0], short.shape[1] + 1), dtype=np.int32)
            np.cumsum(short, axis=1, out=count[:, 1:])
            ok &= count[zone, end] == count[zone, first]
        return ok

    def total(self) -> tuple[int, float]:
        placed = self.choice >= 0
        return int(placed.sum()), float(self.cand.cost[self.choice[placed]].sum())


def _cheapest(cand: Candidates, values: FloatArray, starts: IntArray) -> IntArray:
    """Each workload's option of least value (the first among equals), for the workloads with options
    (``starts``: where their groups begin): one segmented minimum, no sort."""
    least = np.minimum.reduceat(values, starts)
    hit = np.flatnonzero(values <= least[np.searchsorted(starts, np.arange(len(values)), side="right") - 1])
    first = np.r_[True, cand.owner[hit][1:] != cand.owner[hit][:-1]]
    return hit[first]


def _remap(keep: IntArray, choice: IntArray) -> IntArray:
    """``choice`` (option indices, -1 = none) as indices into ``keep``, which holds every chosen one."""
    return np.where(choice >= 0, np.searchsorted(keep, np.maximum(choice, 0)), -1)


def _better(a: tuple[int, float], b: tuple[int, float]) -> bool:
    return a[0] > b[0] or (a[0] == b[0] and a[1] < b[1] - 1e-9 * max(1.0, abs(b[1])))


def _by_cost(cand: Candidates, values: FloatArray) -> IntArray:
    """Option indices grouped by workload, each group ordered by value (ties: the input order, which
    is zone then start)."""
    spread = float(np.abs(values).max(initial=0.0)) * 4.0 + 1.0  # > the range of any group's values
    return np.argsort(values + cand.owner * spread, kind="stable")


def improve(
    cand: Candidates,
    needs: FloatArray,
    free: FloatArray,
    greedy: IntArray,
    *,
    time_budget: float | None = None,
) -> IntArray:
    """A placement at least as good as ``greedy`` (option index per workload, -1 = unplaced).

    ``needs`` is ``(n, 3)``, ``free`` the ``(3, Z, T)`` capacity free before any of these
    workloads (not modified; ``inf`` = unlimited). Returns ``greedy`` itself when capacity did not
    bind. ``time_budget`` (seconds) stops early — at the cost of determinism, so the engine does
    not set it.
    """
    deadline = math.inf if time_budget is None else time.perf_counter() + time_budget
    n = len(needs)
    has = cand.ptr[1:] > cand.ptr[:-1]
    if n < 2 or not has.any():
        return greedy
    best_cost = np.full(n, np.inf)
    np.minimum.at(best_cost, cand.owner, cand.cost)
    got = np.where(greedy >= 0, cand.cost[np.maximum(greedy, 0)], np.inf)
    if np.all(~has | ((greedy >= 0) & (got <= best_cost))):
        return greedy  # every workload has its own best option: capacity did not bind

    # Only options that may be needed (``reduce``: no optimum is lost), at most PER_ZONE per zone.
    alive, binding = reduce(cand, needs, free)
    alive[greedy[greedy >= 0]] = True
    keep = np.flatnonzero(alive)
    keep = keep[_shortlist(cand.subset(keep), _remap(keep, greedy), PER_ZONE)]
    cand, greedy = cand.subset(keep), _remap(keep, greedy)
    must = greedy >= 0
    # A workload whose only option left touches no cell that can bind keeps it: it is not contended.
    count = np.diff(cand.ptr)
    only = np.minimum(cand.ptr[:-1], len(cand.cost) - 1)
    contended = (count > 1) | ((count == 1) & touches(cand, binding, needs)[only])
    order = np.flatnonzero(contended)  # priority order
    fixed = _State(cand, needs, free, np.where(contended, -1, greedy))
    best = fixed.clone()
    for i in order:
        if greedy[i] >= 0:
            best.put(int(i), int(greedy[i]))
    best_value = best.total()

    # Scale of the prices: what a unit of capacity-share-times-half-hour is worth in cost.
    finite = np.isfinite(free)
    capacity_scale = np.array(
        [max(float(free[r][finite[r]].max(initial=0.0)), 1.0) for r in range(3)]
    )  # unlimited resources never bind, so they never get a price
    share = needs / capacity_scale  # (n, 3): how much of a zone's resource each workload takes
    length = (cand.end - cand.first).astype(np.float64)
    weight = share[cand.owner] * length[:, None]  # (P, 3)
    unit = float(np.median(cand.cost / np.maximum(weight.sum(axis=1), TOLERANCE)))
    prices = np.zeros_like(free)
    step = 0.5 * unit
    z_count, t_count = free.shape[1], free.shape[2]
    owner_needs = needs[cand.owner].T  # (3, P)
    starts = cand.ptr[:-1][np.diff(cand.ptr) > 0]
    for iteration in range(1, MAX_ITERATIONS + 1):
        if time.perf_counter() > deadline:
            break
        cum = np.zeros((3, z_count, t_count + 1))
        np.cumsum(prices, axis=2, out=cum[:, :, 1:])
        held_price = cum[:, cand.zone, cand.end] - cum[:, cand.zone, cand.first]  # (3, P)
        reduced = cand.cost + (owner_needs * held_price).sum(axis=0)
        if iteration % REPAIR_EVERY == 0:
            state = _repair(fixed, _by_cost(cand, reduced), order, must, deadline)
            if state is not None and _better(state.total(), best_value):
                best, best_value = state, state.total()
        # Subgradient: what the relaxed picks (each workload's least reduced cost) would hold.
        picks = _cheapest(cand, reduced, starts)
        held = needs[cand.owner[picks]]
        zone, first, end = cand.zone[picks], cand.first[picks], cand.end[picks]
        use = np.stack([occupancy(zone, first, end, held[:, r], z_count, t_count) for r in range(3)])
        gradient = np.where(finite, use - np.where(finite, free, 0.0), -1.0) / capacity_scale[:, None, None]
        if not (gradient > TOLERANCE).any():
            break  # the relaxed picks fit: prices are high enough
        prices = np.maximum(0.0, prices + step * gradient)
        step *= 0.93
    _local_search(best, must, order, deadline)
    return np.where(best.choice >= 0, keep[np.maximum(best.choice, 0)], -1)


def _repair(fixed: _State, ranked: IntArray, order: IntArray, must: IntArray, deadline: float) -> _State | None:
    """Priority-order placement of the ``order`` workloads on top of ``fixed``, each on its first option
    in ``ranked`` that fits; None when a workload greedy placed finds no room (the placement is not
    allowed) or time runs out."""
    state = fixed.clone()
    cand = state.cand
    ptr = cand.ptr
    for i in order:
        if time.perf_counter() > deadline:
            return None
        options = ranked[ptr[i] : ptr[i + 1]]
        if state.fits(int(i), int(options[0])):
            state.put(int(i), int(options[0]))
            continue
        ok = state.fitting(int(i), options)
        if ok.any():
            state.put(int(i), int(options[np.argmax(ok)]))
        elif must[i]:
            return None
    return state


def _local_search(state: _State, must: IntArray, order: IntArray, deadline: float) -> None:
    """Moves and one-level ejections that lower the total, in priority order, until none is left."""
    cand = state.cand
    ranked = _by_cost(cand, cand.cost)
    ptr = cand.ptr
    cheapest = np.full(len(state.choice), np.inf)
    np.minimum.at(cheapest, cand.owner, cand.cost)
    # Not worth a look: a workload within 0.1 % of its cheapest option.
    near_best = cheapest + 1e-3 * np.abs(cheapest) + TOLERANCE
    improved, passes = True, 0
    while improved and passes < MAX_PASSES and time.perf_counter() < deadline:
        improved, passes, ejections = False, passes + 1, 0
        for i in order:
            if time.perf_counter() > deadline:
                return
            i = int(i)
            current = state.choice[i]
            if current >= 0 and cand.cost[current] <= near_best[i]:
                continue
            if current >= 0:
                state.take(i)
            ceiling = cand.cost[current] if current >= 0 else np.inf
            options = ranked[ptr[i] : ptr[i + 1]]
            options = options[cand.cost[options] < ceiling - TOLERANCE]
            moved = False
            if options.size:
                ok = state.fitting(i, options)
                if ok.any():
                    state.put(i, int(options[np.argmax(ok)]))
                    moved = improved = True
                elif ejections < EJECTIONS_PER_PASS:
                    ejections += 1
                    for p in options[:EJECTION_TRIES]:
                        if _eject_for(state, i, int(p), ceiling):
                            moved = improved = True
                            break
            if not moved and current >= 0:
                state.put(i, current)


def _eject_for(state: _State, i: int, p: int, ceiling: float) -> bool:
    """Give workload ``i`` option ``p`` by moving the one workload in its way to another of its
    options, when that lowers the total. ``i`` is not placed on entry; on success both are."""
    cand = state.cand
    z, a, b = cand.zone[p], cand.first[p], cand.end[p]
    # Only a workload whose own holds cover every shortfall of ``p`` can make room for it alone.
    deficit = state.needs[i][:, None] - state.free[:, z, a:b]  # (3, slots)
    short = (deficit > TOLERANCE).any(axis=0)
    lo_slot, hi_slot = a + int(np.argmax(short)), a + len(short) - int(np.argmax(short[::-1]))
    most = deficit.max(axis=1)
    placed = np.flatnonzero(state.choice >= 0)
    held = state.choice[placed]
    covers = (cand.zone[held] == z) & (cand.first[held] <= lo_slot) & (cand.end[held] >= hi_slot)
    covers &= (state.needs[placed] >= most - TOLERANCE).all(axis=1)
    gain_i = ceiling - cand.cost[p]
    for j in placed[covers][:EJECTION_TRIES]:
        j = int(j)
        old = int(state.choice[j])
        state.take(j)
        if state.fits(i, p):
            state.put(i, p)
            lo, hi = cand.ptr[j], cand.ptr[j + 1]
            alternatives = np.arange(lo, hi)[np.argsort(cand.cost[lo:hi], kind="stable")]
            alternatives = alternatives[
                (alternatives != old) & (cand.cost[alternatives] - cand.cost[old] < gain_i - TOLERANCE)
            ]
            if alternatives.size:
                ok = state.fitting(j, alternatives)
                if ok.any():
                    state.put(j, int(alternatives[np.argmax(ok)]))
                    return True
            state.take(i)
        state.put(j, old)
    return False


# --------------------------------------------------------------------------- the engine's step

Picks = list[tuple[list[tuple[int, int]], Infeasibility | None]]


class PlacementStep:
    """What greedy's pass hands the placement step, chunk by chunk, and the plans it revises."""

    def __init__(self, prob: Problem, prep: Prepared, chunk_size: int):
        self.prob, self.prep, self.chunk_size = prob, prep, chunk_size
        self.free_before, self.reserved_before = prob.free.copy(), prob.reserved.copy()
        self.parts: list[Candidates] = []
        self.chunks: list[Picks] = []

    def add_chunk(self, arrays: OptionArrays, lo: int, done: Picks) -> None:
        """Every option of the chunk with a finite score (cost = score x E_ref), and greedy's picks."""
        w, z, j = np.nonzero(np.isfinite(arrays.score))
        empty = np.zeros(0, dtype=np.intp)
        self.parts.append(
            Candidates(
                w + lo,
                z,
                j,
                arrays.first_slot[w, j],
                arrays.end_slot[w, j],
                arrays.score[w, z, j] * arrays.e_ref[w],
                empty,
            )
        )
        self.chunks.append(done)

    def improve(self, top_k: int, slot_times: list) -> list[tuple[int, WorkloadPlan]]:
        """Run ``improve`` on greedy's placement; return the new plans (by priority index) of the
        chunks whose workloads moved, and leave the problem's reservations as placed."""
        prob, prep, size = self.prob, self.prep, self.chunk_size
        n = len(prep.workloads)
        cand = Candidates.concat(self.parts, n)
        greedy = np.full(n, -1, dtype=np.intp)
        for c, done in enumerate(self.chunks):
            for w, (picks, _) in enumerate(done):
                if picks:
                    greedy[c * size + w] = cand.index_of(c * size + w, *picks[0])
        choice = improve(cand, prep.needs, self.free_before, greedy)
        if choice is greedy:
            return []
        prob.free[:] = self.free_before
        prob.reserved[:] = self.reserved_before
        for i in np.flatnonzero(choice >= 0):
            p = choice[i]
            prob.reserve(int(cand.zone[p]), int(cand.first[p]), int(cand.end[p]), prep.needs[i])
        moved = np.flatnonzero(choice != greedy)
        revised = []
        for c in sorted({int(i) // size for i in moved}):
            lo, done = c * size, self.chunks[c]
            for i in moved[(moved >= lo) & (moved < lo + len(done))]:
                p = choice[i]
                first = (int(cand.zone[p]), int(cand.col[p]))
                others = [pick for pick in done[i - lo][0] if pick[0] != first[0]]
                done[i - lo] = ([first, *others][:top_k], None)
            arrays = evaluate_options(prob, prep, slice(lo, lo + len(done)))
            revised.extend(enumerate(build_plans(prob, prep, arrays, lo, done, slot_times), start=lo))
        return revised
