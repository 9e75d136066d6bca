"""Near-optimal placement when capacity binds: Lagrangian prices, then ruin-and-recreate search.

Greedy placement (``greedy``) takes workloads in priority order and gives each its best option that
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

How (on flat arrays of every option that can matter, ``candidates.reduce``):

1. **Lagrangian prices** ``λ[r, z, t]`` on the cells where capacity can bind. Each iteration every
   workload picks the option of least *reduced cost* (its cost plus the price of the capacity it
   holds: one cumulative sum per zone and a gather), and prices move by a projected subgradient step
   (Polyak's step length, towards the best placement found). Every few iterations a **repair**
   places the workloads in priority order, each on its least reduced-cost option that fits; the best
   valid one is kept.
2. **Ruin and recreate** (large-neighbourhood search) on the best: take a few related workloads out
   (one that is not on its cheapest option and the workloads in the way of a cheaper one, or the
   workloads sharing a zone and time with one; plus unplaced workloads that could use the room) and
   put them back by **regret**: the workload that would lose most by waiting (second-best fitting
   option minus best; one with a single option left goes first) takes its best fitting option. The
   result is kept when it places as many and costs no more. This is an anytime search: it runs until
   the time budget or the round limit.
3. **Exact moves** (``submip``), in turns with the search after its first stretch: an unplaced
   workload, the workloads in the way of one of its options and other unplaced ones that could run
   then are re-placed by HiGHS, everything else fixed, started from the current placement. They
   find what one-at-a-time recreation misses: several workloads moving at once (small runs out of a
   full clean zone so that a big one fits). Only where at most ``EXACT_UP_TO`` workloads are
   contended: on larger problems the search keeps the whole budget.

All steps are deterministic for a given round limit (a fixed random seed; HiGHS single-threaded and
bounded by nodes); with a time budget the number of rounds depends on the machine, so the answer
may differ from run to run, never for the worse than greedy.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from . import submip
from .candidates import BoolArray, Candidates, IntArray, cheapest_per_workload, occupancy, reduce, touches
from .evaluate import OptionArrays, evaluate_options
from .plans import build_plans
from .prepare import Prepared
from .problem import Problem
from .types import FloatArray, Infeasibility, WorkloadPlan

TOLERANCE = 1e-9
#: The placement step's default time budget (seconds) when the caller gives none.
TIME_BUDGET = 1.0
#: Search rounds at most (each: one ruin and one recreate); with no time budget, the step stops here.
MAX_ROUNDS = 20_000
#: The search stops after this many rounds without a better placement (nothing left to find, often).
STALL_ROUNDS = 2_000
#: Price iterations at most, and the share of the time budget they may take.
PRICE_ITERATIONS = 30
PRICE_SHARE = 0.25
#: A repair every this many price iterations (prices move little from one to the next).
REPAIR_EVERY = 6
#: Workloads a ruin takes out at most (plus unplaced workloads that could use the room).
RUIN_SIZE = 10
UNPLACED_PER_RUIN = 3
#: Blockers whose own way to another option is cleared too (an ejection chain two deep).
CHAIN = 2
#: The share of search rounds that try a move the prices suggest.
GUIDED = 0.3
#: Of the other rounds, the share that try to place an unplaced workload (the rest lower the cost).
TO_PLACE = 0.5
#: The share of search rounds that take out everything running at the time of the move.
SLICE = 0.2
SLICE_SIZE = 24
#: How much worse than the best a search round's result may be and still be kept, at the start (it
#: shrinks to nothing): this share of a contended workload's average cost.
MARGIN = 0.2
SEED = 20_260_401
#: Exact moves (``submip``): the search runs alone until EXACT_AT of the time budget, then turns of
#: exact moves (EXACT_TURN of the budget; half as long after a turn that found nothing) and of the
#: search (SEARCH_TURN) alternate. Each move re-places a neighbourhood of EXACT_SIZE workloads at
#: first, EXACT_GROW more after every EXACT_PATIENCE moves that found nothing (EXACT_MAX at most), in
#: at most EXACT_SECONDS and EXACT_NODES branch-and-bound nodes. Without a clock: one turn of a tenth
#: of the round limit of moves, between two searches.
EXACT_AT = 0.3
EXACT_TURN = 0.15
SEARCH_TURN = 0.1
EXACT_SIZE = 20
EXACT_GROW = 5
EXACT_PATIENCE = 8
EXACT_MAX = 50
EXACT_SECONDS = 0.1
#: After this many moves in a row that found nothing, the search gets the time back.
EXACT_GIVE_UP = 80
EXACT_NODES = 200
#: The stretch of an exact move is the unplaced workload's option widened by up to this many half
#: hours; the option is a random pick among those short of least capacity (geometric, this p).
EXACT_PAD = 6
EXACT_PICK = 0.2
#: Exact moves only where at most this many workloads are contended. Above it (1,000 submitted
#: workloads leave ~400 contended) a move's neighbourhood is a small share of the problem: measured,
#: moves placed a few more workloads but gave back more saving than the search's time would have won.
EXACT_UP_TO = 250

#: Options per workload and zone the step considers at most, of those ``reduce`` keeps (a cap for
#: time, rarely reached: after the reduction a contended workload has a dozen or so per zone).
PER_ZONE = 100


@dataclass(frozen=True)
class Budget:
    """How long the step may search: ``seconds`` (None: no clock) and ``rounds`` at most."""

    seconds: float | None = TIME_BUDGET
    rounds: int = MAX_ROUNDS


def _shortlist(cand: Candidates, greedy: IntArray, per_zone: int) -> IntArray:
    """Each workload's ``per_zone`` cheapest options in every zone, and greedy's choice (sorted indices)."""
    z_count = int(cand.zone.max()) + 1
    key = cand.owner * z_count + cand.zone
    if np.bincount(key).max(initial=0) <= per_zone:
        return np.arange(len(key))  # no group is over the cap (the usual case): no sort needed
    by_group = np.lexsort((cand.col, cand.cost, key))
    group = key[by_group]
    starts = np.r_[True, group[1:] != group[:-1]]
    rank = np.arange(len(group)) - np.maximum.accumulate(np.where(starts, np.arange(len(group)), 0))
    keep = np.zeros(len(cand.cost), dtype=bool)
    keep[by_group[rank < per_zone]] = True
    keep[greedy[greedy >= 0]] = True
    return np.flatnonzero(keep)


class _State:
    """A placement (``choice[i]`` = option index or -1), the capacity it leaves free, its count and cost."""

    def __init__(self, cand: Candidates, needs: FloatArray, free0: FloatArray, choice: IntArray):
        self.cand, self.needs = cand, needs
        # The resources each workload needs, of those a zone can run short of (the others are unlimited).
        limited = np.isfinite(free0).any(axis=(1, 2))
        self.active = [np.flatnonzero((row > 0) & limited) for row in needs]
        self.free = free0.copy()
        self.choice = np.full(len(needs), -1, dtype=np.intp)
        self.placed, self.cost = 0, 0.0
        for i in np.flatnonzero(choice >= 0):
            self.put(int(i), int(choice[i]))

    def clone(self) -> _State:
        other = object.__new__(_State)
        other.cand, other.needs, other.active = self.cand, self.needs, self.active
        other.free, other.choice = self.free.copy(), self.choice.copy()
        other.placed, other.cost = self.placed, self.cost
        return other

    def put(self, i: int, p: int) -> None:
        c = self.cand
        self.free[:, c.zone[p], c.first[p] : c.end[p]] -= self.needs[i][:, None]
        self.choice[i] = p
        self.placed += 1
        self.cost += float(c.cost[p])

    def take(self, i: int) -> None:
        p = self.choice[i]
        c = self.cand
        self.free[:, c.zone[p], c.first[p] : c.end[p]] += self.needs[i][:, None]
        self.choice[i] = -1
        self.placed -= 1
        self.cost -= float(c.cost[p])

    def fits(self, i: int, p: int) -> bool:
        c = self.cand
        z, a, b = c.zone[p], c.first[p], c.end[p]
        return all(self.free[r, z, a:b].min() >= self.needs[i, r] - TOLERANCE for r in self.active[i])

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

    def value(self) -> tuple[int, float]:
        return self.placed, self.cost


def _better(a: tuple[int, float], b: tuple[int, float]) -> bool:
    """``a`` places more, or as many at a lower cost."""
    return a[0] > b[0] or (a[0] == b[0] and a[1] < b[1] - 1e-9 * max(1.0, abs(b[1])))


def _remap(keep: IntArray, choice: IntArray) -> IntArray:
    """``choice`` (option indices, -1 = none) as indices into ``keep``, which holds every chosen one."""
    return np.where(choice >= 0, np.searchsorted(keep, np.maximum(choice, 0)), -1)


def _by_value(cand: Candidates, values: FloatArray) -> IntArray:
    """Option indices grouped by workload, each group ordered by value (ties: the input order, which
    is zone then start)."""
    spread = float(np.abs(values).max(initial=0.0)) * 4.0 + 1.0  # > the range of any group's values
    return np.argsort(values + cand.owner * spread, kind="stable")


def improve(
    cand: Candidates,
    needs: FloatArray,
    free: FloatArray,
    greedy: IntArray,
    worth: FloatArray | None = None,
    *,
    time_budget: float | None = None,
    max_rounds: int = MAX_ROUNDS,
) -> IntArray:
    """A placement at least as good as ``greedy`` (option index per workload, -1 = unplaced).

    ``needs`` is ``(n, 3)``, ``free`` the ``(3, Z, T)`` capacity free before any of these
    workloads (not modified; ``inf`` = unlimited). ``worth`` (per workload, in cost units; default 0)
    is what running it is worth, the cost of its reference run: among placements of as many
    workloads, the step maximises the sum of ``worth - cost`` (the saving), so of two workloads of
    which only one can run, the one that saves more does. Returns ``greedy`` itself when capacity did
    not bind. The search stops after ``max_rounds`` rounds or ``time_budget`` seconds, whichever comes
    first (``None``: no time limit, so the answer depends on the inputs alone).
    """
    started = time.perf_counter()
    deadline = math.inf if time_budget is None else started + time_budget
    n = len(needs)
    has = cand.ptr[1:] > cand.ptr[:-1]
    if n < 2 or not has.any():
        return greedy
    best_cost = cheapest_per_workload(cand, cand.cost)
    got = np.where(greedy >= 0, cand.cost[np.maximum(greedy, 0)], np.inf)
    if np.all(~has | ((greedy >= 0) & (got <= best_cost))):
        return greedy  # every workload has its own best option: capacity did not bind
    if worth is not None:  # a constant per workload: each one's options keep their order
        cand = replace(cand, cost=cand.cost - worth[cand.owner])

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

    price_deadline = min(deadline, started + PRICE_SHARE * time_budget) if time_budget is not None else math.inf
    best, guide = _price(fixed, best, binding, order, must, price_deadline)
    # Search (the cost, and easy places), then turns of exact moves (places that need several
    # workloads to move at once) and of the search again from what they found.
    rng = np.random.default_rng(SEED + 1)
    if len(order) > EXACT_UP_TO:
        best = _search(best, guide, order, must, deadline, max_rounds)
        return np.where(best.choice >= 0, keep[np.maximum(best.choice, 0)], -1)
    if time_budget is None:
        best = _search(best, guide, order, must, math.inf, max_rounds)
        best = _exact_moves(best, fixed.free, order, must, math.inf, max(1, max_rounds // 10), True, rng)
        best = _search(best, guide, order, must, math.inf, max_rounds, turn=1)
        return np.where(best.choice >= 0, keep[np.maximum(best.choice, 0)], -1)
    turn_end, exact_turn = started + EXACT_AT * time_budget, EXACT_TURN
    for turn in range(MAX_ROUNDS):
        best = _search(best, guide, order, must, min(deadline, turn_end), max_rounds, turn)
        now = time.perf_counter()
        if now >= deadline or (now < turn_end and (best.choice[order] >= 0).all()):
            break  # the time is up, or the search stalled with every workload placed
        before = best.value()
        best = _exact_moves(
            best, fixed.free, order, must, min(deadline, now + exact_turn * time_budget), MAX_ROUNDS, False, rng
        )
        # A turn of exact moves that found nothing: the next is half as long (the search's turn).
        exact_turn = EXACT_TURN if _better(best.value(), before) else exact_turn / 2.0
        turn_end = time.perf_counter() + SEARCH_TURN * time_budget
    return np.where(best.choice >= 0, keep[np.maximum(best.choice, 0)], -1)


def _price(
    fixed: _State, best: _State, binding: BoolArray, order: IntArray, must: BoolArray, deadline: float
) -> tuple[_State, IntArray]:
    """Subgradient optimisation of the capacity prices (the Lagrangian dual of "least cost, an
    unplaced workload costing more than any option"), with a priority-order repair every few
    iterations. Returns the best placement seen (``best`` or a repair) and the relaxed picks at the
    best prices (option per workload, -1 = none: where the prices say each workload belongs)."""
    cand, needs = fixed.cand, fixed.needs
    capacity = np.where(binding, fixed.free, 0.0)  # prices live only where capacity can bind
    active = [r for r in range(3) if binding[r].any()]
    guide = np.full(len(needs), -1, dtype=np.intp)
    if not active or not len(order):
        return best, guide
    z_count, t_count = binding.shape[1], binding.shape[2]
    in_order = np.zeros(len(needs), dtype=bool)
    in_order[order] = True
    options = np.flatnonzero(in_order[cand.owner])
    owner, zone, first, end = cand.owner[options], cand.zone[options], cand.first[options], cand.end[options]
    cost = cand.cost[options]
    starts = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    workloads = owner[starts]
    # Unplaced costs ``miss`` (more than any option), a workload greedy placed cannot be unplaced.
    miss_cost = 2.0 * float(np.abs(cost).max(initial=0.0)) + 1.0
    miss = np.where(must[workloads], np.inf, miss_cost)
    best_value = best.value()
    unplaced = len(order) - (best.placed - fixed.placed)
    upper = best.cost - fixed.cost + miss_cost * unplaced
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(options)]))
    prices = np.zeros((len(active), z_count, t_count))
    theta, lower, stall = 1.0, -np.inf, 0  # theta halves when the dual stalls
    for iteration in range(1, PRICE_ITERATIONS + 1):
        if time.perf_counter() > deadline:
            break
        cum = np.zeros((len(active), z_count, t_count + 1))
        np.cumsum(prices, axis=2, out=cum[:, :, 1:])
        held = cum[:, zone, end] - cum[:, zone, first]  # (R, P): price per unit held
        reduced = cost + (needs[owner][:, active].T * held).sum(axis=0)
        least = np.minimum.reduceat(reduced, starts)
        dual = float(np.minimum(least, miss).sum() - (prices * capacity[active]).sum())
        # Each workload's pick: its least reduced cost (or none), and what it would lose without it.
        hit = np.flatnonzero(reduced <= least[group])
        picks = hit[np.r_[True, group[hit][1:] != group[hit][:-1]]]
        if dual > lower + 1e-9 * abs(lower if np.isfinite(lower) else 1.0):
            lower, stall = dual, 0
            guide[workloads] = np.where(least < miss, options[picks], -1)
        else:
            stall += 1
            if stall >= 4:
                theta, stall = theta / 2.0, 0
        if iteration % REPAIR_EVERY == 0:
            others = reduced.copy()
            others[picks] = np.inf
            regret = np.minimum(np.minimum.reduceat(others, starts), miss) - least
            choice = np.full(len(needs), -1, dtype=np.intp)
            choice[workloads] = np.where(least < miss, options[picks], -1)
            urgency = np.zeros(len(needs))
            urgency[workloads] = regret
            state = _repair(fixed, _priced(cand, options, reduced), choice, urgency, order, must)
            if state is not None and _better(state.value(), best_value):
                best, best_value = state, state.value()
                unplaced = len(order) - (best.placed - fixed.placed)
                upper = min(upper, best.cost - fixed.cost + miss_cost * unplaced)
        # The subgradient: what the picks would hold beyond the capacity.
        picks = picks[least[group[picks]] < miss[group[picks]]]
        gradient = np.stack(
            [
                occupancy(zone[picks], first[picks], end[picks], needs[owner[picks], r], z_count, t_count) - capacity[r]
                for r in active
            ]
        )
        gradient = np.where(binding[active], gradient, 0.0)
        gradient = np.where((prices <= 0) & (gradient < 0), 0.0, gradient)
        norm = float((gradient**2).sum())
        if norm <= TOLERANCE:
            break
        # Polyak's step towards the best placement's value, at most a tenth of the dual's (an unplaced
        # workload's penalty would make the first steps far too long).
        target = min(upper - dual, 0.1 * abs(dual) + 1.0)
        prices = np.maximum(0.0, prices + theta * max(target, 1e-6 * abs(upper)) / norm * gradient)
    return best, guide


def _priced(cand: Candidates, options: IntArray, reduced: FloatArray) -> FloatArray:
    """Every option's reduced cost (the options of the fixed workloads keep their cost)."""
    values = cand.cost.copy()
    values[options] = reduced
    return values


def _repair(
    fixed: _State, values: FloatArray, choice: IntArray, urgency: FloatArray, order: IntArray, must: BoolArray
) -> _State | None:
    """A placement from the relaxed picks ``choice`` (least reduced cost ``values``): on top of
    ``fixed``, the ``order`` workloads take their pick while it fits, those with the most to lose
    (``urgency``) first; the rest are placed by regret on ``values``. None when a workload greedy
    placed finds no room (the placement is not allowed)."""
    state = fixed.clone()
    left = []
    for i in order[np.lexsort((-urgency[order], ~must[order]))]:
        p = int(choice[i])
        if p >= 0 and state.fits(int(i), p):
            state.put(int(i), p)
        else:
            left.append(int(i))
    ranked = _by_value(state.cand, values)
    return state if _recreate(state, sorted(left), must, ranked, state.cand.ptr, values) else None


def _search(
    state: _State, guide: IntArray, order: IntArray, must: BoolArray, deadline: float, max_rounds: int, turn: int = 0
) -> _State:
    """Ruin and recreate from ``state`` while rounds and time last; the best placement seen.

    Record-to-record travel: a round's result is kept when it places as many and costs at most
    the best's cost plus a margin that shrinks to zero as rounds and time run out (so the search
    can cross a ridge to a better valley); it is the new best when it is better. The search ends
    at the deadline, after ``max_rounds`` rounds, or after STALL_ROUNDS rounds without a better one."""
    cand = state.cand
    ranked = _by_value(cand, cand.cost)
    ptr = cand.ptr
    cheapest = cheapest_per_workload(cand, cand.cost)
    rng = np.random.default_rng(SEED + 2 * turn)  # another turn, other rounds
    contended = np.zeros(len(state.choice), dtype=bool)
    contended[order] = True
    best = state.clone()
    if len(order) < 2:
        return best
    started = time.perf_counter()
    span = deadline - started
    margin = MARGIN * (float(np.abs(cand.cost[state.choice[order][state.choice[order] >= 0]]).sum()) + 1.0) / len(order)
    last_better = 0
    for round_ in range(max_rounds):
        now = time.perf_counter()
        if now > deadline or round_ - last_better > STALL_ROUNDS:
            break
        progress = max(round_ / max_rounds, (now - started) / span if span > 0 else 0.0)
        i, target, removed = _ruin(state, guide, order, contended, cheapest, ranked, rng)
        if i < 0:
            continue
        old = {k: int(state.choice[k]) for k in [i, *removed]}
        for k in removed:
            if old[k] >= 0:
                state.take(k)
        if state.fits(i, target):
            state.put(i, target)
            if _recreate(state, [k for k in removed if k != i], must, ranked, ptr):
                if _better(state.value(), best.value()):
                    best, last_better = state.clone(), round_
                    continue
                if state.placed >= best.placed and state.cost <= best.cost + margin * (1.0 - progress):
                    continue
        for k in old:
            if state.choice[k] >= 0:
                state.take(k)
        for k, p in old.items():
            if p >= 0:
                state.put(k, p)
    return best


def _exact_moves(
    state: _State,
    room: FloatArray,
    order: IntArray,
    must: BoolArray,
    deadline: float,
    rounds: int,
    no_clock: bool,
    rng: np.random.Generator,
) -> _State:
    """Exact moves from ``state`` while rounds and time last: an unplaced workload, the workloads in
    its way (``_neighbourhood``) and other unplaced ones re-placed by HiGHS (``submip``), kept when
    that places more (or as many at a lower cost). Ruin and recreate puts workloads back one at a
    time; this finds the packings where several must move at once (small runs out of a clean zone
    into a dirtier one, so that a big run that can only use clean zones fits)."""
    state = state.clone()
    tried: list[int] = []  # options tried since the last better placement
    empty = 0
    for _ in range(rounds):
        now = time.perf_counter()
        if now > deadline or empty >= EXACT_PATIENCE or len(tried) >= EXACT_GIVE_UP:
            break  # the time is up, or nothing is left to try, or the tries keep finding nothing
        # The longer nothing is found, the wider the neighbourhood (back to small after a find).
        size = min(EXACT_SIZE + EXACT_GROW * (len(tried) // EXACT_PATIENCE), EXACT_MAX)
        ids = _neighbourhood(state, room, order, tried, size, rng)
        empty = 0 if ids.size else empty + 1
        if not ids.size:
            continue
        old = state.choice[ids].copy()
        before = state.value()
        for i in ids[old >= 0]:
            state.take(int(i))
        new = submip.resolve(
            state.cand,
            state.needs,
            state.free,
            ids,
            old,
            must,
            time_limit=None if no_clock else min(EXACT_SECONDS, max(deadline - now, 0.01)),
            node_limit=EXACT_NODES,
        )
        if new is not None and _put_all(state, ids, new) and _better(state.value(), before):
            tried.clear()
            continue
        for i in ids[state.choice[ids] >= 0]:
            state.take(int(i))
        for i, p in zip(ids, old, strict=True):
            if p >= 0:
                state.put(int(i), int(p))
    return state


def _put_all(state: _State, ids: IntArray, choice: IntArray) -> bool:
    """Place ``ids`` on ``choice`` while each fits; False (some placed) at the first that does not."""
    for i, p in zip(ids, choice, strict=True):
        if p >= 0:
            if not state.fits(int(i), int(p)):
                return False
            state.put(int(i), int(p))
    return True


def _neighbourhood(
    state: _State, room: FloatArray, order: IntArray, tried: list[int], size: int, rng: np.random.Generator
) -> IntArray:
    """Up to ``size`` contended workloads (sorted) for an exact move, or none (nothing left to try).

    An unplaced workload (the smaller, the likelier: its needs times its shortest run) and one of its
    options not ``tried`` yet that fits its zone's ``room`` (the capacity the uncontended workloads
    leave), of the few short of least capacity now; the workloads placed in that zone over the
    option's half hours widened by up to EXACT_PAD (they may move to any zone), then unplaced
    workloads with an option in that stretch. The option joins ``tried``."""
    cand, choice = state.cand, state.choice
    waiting = order[choice[order] < 0]
    if not waiting.size:
        return waiting
    area = (state.needs[waiting] / np.maximum(state.needs[order].max(axis=0), TOLERANCE)).sum(axis=1)
    span = cand.end - cand.first
    area *= [span[cand.ptr[i] : cand.ptr[i + 1]].min() for i in waiting]
    weight = 1.0 / (area + TOLERANCE)
    anchor = int(rng.choice(waiting, p=weight / weight.sum()))
    options = np.arange(cand.ptr[anchor], cand.ptr[anchor + 1])
    options = options[submip.fits_alone(cand, state.needs[[anchor] * options.size], room, options)]
    options = options[~np.isin(options, tried)]
    if not options.size:
        return options
    rank = np.lexsort((np.arange(options.size), _lacking(state, anchor, options)))
    p = int(options[rank[min(int(rng.geometric(EXACT_PICK)) - 1, rank.size - 1)]])
    tried.append(p)
    pad = int(rng.integers(0, EXACT_PAD + 1))
    a, b = cand.first[p] - pad, cand.end[p] + pad
    placed = order[choice[order] >= 0]
    held = choice[placed]
    in_way = placed[(cand.zone[held] == cand.zone[p]) & (cand.first[held] < b) & (cand.end[held] > a)]
    could = np.unique(cand.owner[np.isin(cand.owner, waiting) & (cand.first < b) & (cand.end > a)])
    could = could[could != anchor]
    pool = np.r_[rng.permutation(in_way), rng.permutation(could)][: size - 1]
    return np.sort(np.r_[pool, anchor]).astype(np.intp)


def _ruin(
    state: _State,
    guide: IntArray,
    order: IntArray,
    contended: BoolArray,
    cheapest: FloatArray,
    ranked: IntArray,
    rng: np.random.Generator,
) -> tuple[int, int, list[int]]:
    """A workload ``i``, the option ``target`` it is to take, and the workloads to take out for it:
    those holding capacity in ``target``'s zone and time, and a few unplaced ones that could use what
    the move frees. ``i`` is an unplaced workload (to place one more) or one off its cheapest option
    (to lower the cost); ``target`` one of its cheaper options, the less capacity it lacks the likelier."""
    cand, choice = state.cand, state.choice
    placed = choice >= 0
    current = np.where(placed, cand.cost[np.maximum(choice, 0)], np.inf)
    waiting = order[~placed[order]]
    # Where the prices say a workload belongs and it is not: a move they suggest.
    astray = order[(guide[order] >= 0) & (guide[order] != choice[order])]
    astray = astray[cand.cost[guide[astray]] < current[astray] - TOLERANCE]
    draw = rng.random()
    if astray.size and draw < GUIDED:
        i = int(astray[rng.integers(astray.size)])
        target = int(guide[i])
    else:
        if waiting.size and draw < GUIDED + (1.0 - GUIDED) * TO_PLACE:
            i = int(waiting[rng.integers(waiting.size)])
        else:
            excess = current[order] - cheapest[order]
            off = order[excess > 1e-9 * np.maximum(1.0, np.abs(cheapest[order]))]
            if not off.size:
                return -1, -1, []
            i = int(off[rng.integers(off.size)])
        options = ranked[cand.ptr[i] : cand.ptr[i + 1]]
        options = options[cand.cost[options] < current[i] - TOLERANCE]
        if not options.size:
            return -1, -1, []
        lacking = _lacking(state, i, options)
        # Prefer options short of little capacity, then cheap ones: a random pick among the best few.
        rank = np.lexsort((np.arange(options.size), lacking))
        target = int(options[rank[min(int(rng.geometric(0.35)) - 1, rank.size - 1)]])
    z, a, b = cand.zone[target], cand.first[target], cand.end[target]
    others = np.flatnonzero(placed & contended)
    others = others[others != i]
    held = choice[others]
    removed = _blockers(state, i, target, _in_the_way(state, i, target, others), rng)
    if rng.random() < SLICE:
        # And up to SLICE_SIZE of the others running at that time, in any zone: a repack of the stretch.
        running = others[(cand.first[held] < b) & (cand.end[held] > a)]
        running = running[~np.isin(running, removed)]
        extra = max(0, SLICE_SIZE - len(removed))
        removed.extend(rng.choice(running, min(extra, running.size), replace=False).tolist())
        return i, target, sorted({*removed, *([i] if placed[i] else [])})
    # An ejection chain: a blocker's own best other option, and what is in its way.
    for j in rng.permutation(removed)[:CHAIN]:
        alternatives = ranked[cand.ptr[j] : cand.ptr[j + 1]]
        alternatives = alternatives[(cand.zone[alternatives] != z) & (alternatives != choice[j])]
        if alternatives.size:
            lacking = _lacking(state, int(j), alternatives)
            q = int(alternatives[np.lexsort((np.arange(alternatives.size), lacking))[0]])
            removed.extend(_blockers(state, int(j), q, _in_the_way(state, int(j), q, others), rng))
    # And workloads running at the same time in other zones, to make room for the blockers.
    concurrent = others[(cand.zone[held] != z) & (cand.first[held] < b) & (cand.end[held] > a)]
    if concurrent.size and len(removed) < RUIN_SIZE:
        removed.extend(rng.choice(concurrent, min(RUIN_SIZE - len(removed), concurrent.size), replace=False).tolist())
    if placed[i]:
        removed.append(i)
    rest = waiting[waiting != i]
    if rest.size:
        removed.extend(rng.choice(rest, min(UNPLACED_PER_RUIN, rest.size), replace=False).tolist())
    return i, target, sorted(set(removed))


def _in_the_way(state: _State, i: int, target: int, others: IntArray) -> IntArray:
    """Those of the placed ``others`` that hold capacity ``i`` needs in ``target``'s zone and time."""
    cand = state.cand
    held = state.choice[others]
    z, a, b = cand.zone[target], cand.first[target], cand.end[target]
    overlap = (cand.zone[held] == z) & (cand.first[held] < b) & (cand.end[held] > a)
    return others[overlap & (state.needs[others][:, state.active[i]] > 0).any(axis=1)]


def _blockers(state: _State, i: int, target: int, overlapping: IntArray, rng: np.random.Generator) -> list[int]:
    """Workloads of ``overlapping``, in random order, until taking them out frees enough room for ``i``
    on ``target``."""
    cand = state.cand
    z, a, b = cand.zone[target], cand.first[target], cand.end[target]
    active = state.active[i]
    lacking = state.needs[i, active][:, None] - state.free[active, z, a:b]  # (R, slots)
    removed: list[int] = []
    for j in rng.permutation(overlapping):
        if (lacking <= TOLERANCE).all():
            break
        p = state.choice[j]
        lo, hi = max(a, cand.first[p]), min(b, cand.end[p])
        lacking[:, lo - a : hi - a] -= state.needs[j, active][:, None]
        removed.append(int(j))
    return removed


def _lacking(state: _State, i: int, options: IntArray) -> FloatArray:
    """For each of ``options`` (of workload ``i``), the capacity it lacks now, summed over its half
    hours and resources (relative to the need)."""
    cand = state.cand
    lacking = np.zeros(options.size)
    zone, first, end = cand.zone[options], cand.first[options], cand.end[options]
    for r in state.active[i]:
        short = np.maximum(0.0, state.needs[i, r] - state.free[r]) / state.needs[i, r]
        total = np.zeros((short.shape[0], short.shape[1] + 1))
        np.cumsum(short, axis=1, out=total[:, 1:])
        lacking += total[zone, end] - total[zone, first]
    return lacking


def _recreate(
    state: _State,
    pending: list[int],
    must: BoolArray,
    ranked: IntArray,
    ptr: IntArray,
    values: FloatArray | None = None,
) -> bool:
    """Put the ``pending`` workloads back by regret (see the module's docstring); False when one greedy
    placed finds no room. Each turn checks every pending workload's options at once."""
    if not pending:
        return True
    cand, needs = state.cand, state.needs
    ids = np.array(pending, dtype=np.intp)
    spans = ptr[ids + 1] - ptr[ids]
    options = ranked[np.repeat(ptr[ids] - np.cumsum(spans) + spans, spans) + np.arange(spans.sum())]
    seg = np.repeat(np.arange(ids.size), spans)
    zone, first, end = cand.zone[options], cand.first[options], cand.end[options]
    cost = (cand.cost if values is None else values)[options]
    # Per resource that can run short, the distinct needs of the pending workloads (0: never short).
    limited = [r for r in range(needs.shape[1]) if any(r in state.active[int(i)] for i in ids)]
    levels = []
    for r in limited:
        amounts, level = np.unique(needs[ids, r], return_inverse=True)
        levels.append((r, amounts, level[seg]))

    def fitting(where: BoolArray | slice, z: int | slice) -> BoolArray:
        """Which options ``where`` (all in zone ``z``, or all of them) fit: a count of short half
        hours per need level, over the zone's (or every zone's) half hours, and two gathers."""
        ok = np.ones(len(options), dtype=bool)[where]
        for r, amounts, option_level in levels:
            short = state.free[r][z][None] < amounts.reshape((-1,) + (1,) * state.free[r][z].ndim) - TOLERANCE
            short[amounts <= 0] = False
            count = np.zeros(short.shape[:-1] + (short.shape[-1] + 1,), dtype=np.int32)
            np.cumsum(short, axis=-1, out=count[..., 1:])
            at = (option_level[where], zone[where]) if isinstance(z, slice) else (option_level[where],)
            ok &= count[(*at, end[where])] == count[(*at, first[where])]
        return ok

    fit = fitting(slice(None), slice(None))
    waiting = np.ones(ids.size, dtype=bool)
    while waiting.any():
        ok = fit & waiting[seg]
        hit = np.flatnonzero(ok)
        has = np.zeros(ids.size, dtype=bool)
        has[seg[hit]] = True
        if (waiting & ~has & must[ids]).any():
            return False
        waiting &= has
        if not hit.size:
            break
        head = np.r_[True, seg[hit][1:] != seg[hit][:-1]]
        best = hit[head]  # the first fitting option of each waiting workload (grouped, cheapest first)
        nxt = np.r_[hit[1:], -1]
        has_second = np.r_[~head[1:], False][head]
        second = nxt[head]
        regret = np.where(has_second, cost[np.maximum(second, 0)] - cost[best], np.inf)
        chosen = int(np.argmax(regret))  # ties: the first, the most urgent
        taken = best[chosen]
        state.put(int(ids[seg[taken]]), int(options[taken]))
        waiting[seg[taken]] = False
        in_zone = zone == zone[taken]  # only options in the zone it took can stop fitting
        fit[in_zone] = fitting(in_zone, int(zone[taken]))
    return True


# --------------------------------------------------------------------------- the engine's step

Picks = list[tuple[list[tuple[int, int]], Infeasibility | None]]


class PlacementStep:
    """What greedy's pass hands the placement step, chunk by chunk, and the plans it revises."""

    def __init__(self, prob: Problem, prep: Prepared, chunk_size: int, budget: Budget):
        self.prob, self.prep, self.chunk_size, self.budget = prob, prep, chunk_size, budget
        self.free_before, self.reserved_before = prob.free.copy(), prob.reserved.copy()
        self.parts: list[Candidates] = []
        self.worth = np.zeros(len(prep.workloads))
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
        # The reference run's score (host, now: E = E_ref, price C_ref) times E_ref, in cost units.
        weights = self.prep.weights[lo : lo + len(done)]
        self.worth[lo : lo + len(done)] = (weights[:, 0] + weights[:, 1]) * arrays.e_ref
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
        choice = improve(
            cand,
            prep.needs,
            self.free_before,
            greedy,
            self.worth,
            time_budget=self.budget.seconds,
            max_rounds=self.budget.rounds,
        )
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
