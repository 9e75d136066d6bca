"""Explain why a workload has no feasible option, in words an operator can act on.

Constraints are applied in a fixed order — time window/deadline, forecast
coverage, capacity, carbon cap, price cap — and the first one that leaves no
option is reported, with the closest miss (how late, how many GPUs short, the
lowest emissions/cost reachable) so the operator knows what to relax.
Only called for infeasible workloads, so clarity beats speed here.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from .evaluate import OptionArrays
from .prepare import Prepared
from .problem import BoolArray, IntArray, Problem
from .rangemin import RangeMin
from .types import Constraint, FloatArray, Infeasibility, fmt_time

_RESOURCES = ("gpu", "cpu", "memory")


def _fmt_qty(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == round(value) else f"{value:,.3g}"


def _places(value: float, most: int = 6) -> int:
    """The decimals ``value`` really has (0.5 → 1, 500.0 → 0), up to ``most``."""
    return next((p for p in range(most) if abs(round(value, p) - value) < 1e-9), most)


def _cap_below(cap: float, lowest: float, decimals: int) -> tuple[str, str]:
    """``(cap, lowest)`` for "cap X is below the lowest Y", each shown so that the sentence stays true.

    The cap is shown with every decimal it has (a 0.5 g cap is "0.5", never "0"); the lowest figure
    with ``decimals`` or the cap's places, more if needed, rounded *down*: what is shown is never above
    what was computed, and always above the cap.
    """
    shown_places = max(decimals, _places(cap))
    for places in range(shown_places, shown_places + 6):
        floored = math.floor(lowest * 10**places + 1e-6) / 10**places
        if floored > cap:
            break
    return f"{cap:,.{shown_places}f}", f"{floored:,.{places}f}"


def _resource_phrase(r: int, amount: float) -> str:
    q = f"{amount:g}" if amount < 10 else _fmt_qty(amount)
    if r == 0:
        return f"{q} free GPU" + ("" if amount == 1 else "s")
    if r == 1:
        return f"{q} free CPU core" + ("" if amount == 1 else "s")
    return f"{q} GB of free memory"


def _most_free(
    free: FloatArray, first: IntArray, end: IntArray, mask: BoolArray, table: RangeMin | None = None
) -> tuple[float, int, int]:
    """The option ``(z, j)`` with ``mask`` whose least free capacity over its slots is largest:
    ``(that capacity, z, j)``, the first such in row-major order (as ``argmax`` over the (Z, S)
    array of window minima with -inf where ``mask`` is False would give).

    Only the columns where ``mask`` has an option are looked at. Aligned starts (columns 1..) all
    span ``end - first`` slots from their own slot, so one range-minimum table of ``free``
    (``table``, built here when not given) serves them; column 0 (start now) is done on its own.
    """
    cols = np.flatnonzero(mask.any(axis=0))
    return _most_free_in(free, first, end, cols, mask[:, cols], table)


def _most_free_in(
    free: FloatArray, first: IntArray, end: IntArray, cols: IntArray, mask: BoolArray, table: RangeMin | None
) -> tuple[float, int, int]:
    """``_most_free`` given the columns ``cols`` that have an option and ``mask`` restricted to them."""
    if cols.size == 0:
        return -math.inf, 0, 0
    mins = np.empty((free.shape[0], cols.size))
    k = 0
    if cols[0] == 0:
        mins[:, 0] = free[:, first[0] : end[0]].min(axis=1)
        k = 1
    if cols.size > k:
        aligned = cols[k:]
        n = int(end[aligned[0]] - first[aligned[0]])
        if table is None:
            table = RangeMin(free)
        mins[:, k:] = table.query(aligned - 1, n)  # slot index of each aligned start; in the grid
    mins = np.where(mask, mins, -np.inf)
    z, c = divmod(int(np.argmax(mins)), cols.size)
    value = float(mins[z, c])
    if value == -math.inf:  # nothing above -inf: the full array's first element
        return value, 0, 0
    return value, z, int(cols[c])


def diagnose(
    prob: Problem, prep: Prepared, arrays: OptionArrays, i: int, w: int, fit: BoolArray | None
) -> Infeasibility:
    """Name the binding constraint for workload ``i`` (row ``w`` of the chunk)."""
    wl = prep.workloads[i]
    t0 = prep.t0_dt[i]
    duration = timedelta(minutes=wl.duration_mins)

    def col_time(j: int) -> datetime:
        return t0 if j == 0 else prob.slot_time(j - 1)

    def label(z: int) -> str:
        return prob.zones[z].label

    time_ok = arrays.time_ok[w]
    # 1. Time window and deadline. Column 0 (start now) is always in the window,
    # so only the deadline can empty it — and then every later start fails too.
    if not time_ok.any():
        assert wl.deadline is not None
        earliest_end = t0 + duration
        late = (earliest_end - wl.deadline).total_seconds() / 60.0
        if wl.deadline <= t0:
            msg = f"The deadline {fmt_time(wl.deadline)} has already passed (earliest start {fmt_time(t0)})"
        else:
            msg = (
                f"No start before the deadline {fmt_time(wl.deadline)} leaves room for the "
                f"{wl.duration_mins}-minute run (starting at once, {fmt_time(t0)}, it would end "
                f"{fmt_time(earliest_end)}, {math.ceil(late)} minutes late)"
            )
        return Infeasibility(
            Constraint.DEADLINE,
            msg,
            {
                "deadline": wl.deadline.isoformat(),
                "earliest_start": t0.isoformat(),
                "earliest_end": earliest_end.isoformat(),
                "minutes_late": late,
                "duration_mins": wl.duration_mins,
            },
        )

    cols = np.flatnonzero(time_ok)
    window_start = t0
    window_end = col_time(int(cols[-1])) + duration
    window = f"{fmt_time(window_start)} – {fmt_time(window_end)}"
    base_details: dict[str, object] = {"window_start": window_start.isoformat(), "window_end": window_end.isoformat()}

    # 2. Forecast coverage.
    fc = arrays.fc_ok[w]
    if not fc.any():
        grid_end = prob.slot_time(prob.n_slots)
        details = dict(base_details, forecast_start=prob.grid_start.isoformat(), forecast_end=grid_end.isoformat())
        if not arrays.in_grid[w][cols].any():
            msg = (
                f"No forecast covers the window {window}: forecasts run from "
                f"{fmt_time(prob.grid_start)} to {fmt_time(grid_end)}"
            )
            details["missing"] = "window outside forecast horizon"
        elif not arrays.known_i[w][:, cols].any():
            msg = (
                f"No forecast covers the window {window}: every zone lacks a carbon-intensity "
                "forecast for part of every allowed run"
            )
            details["missing"] = "intensity"
        else:
            why = (
                f"the £{wl.price_cap_gbp:.2f} price cap"
                if wl.price_cap_gbp is not None
                else "the policy's price weight"
            )
            msg = (
                f"No forecast covers the window {window}: price forecasts, needed for {why}, "
                "are missing for part of every allowed run"
            )
            details["missing"] = "price"
        return Infeasibility(Constraint.NO_FORECAST, msg, details)

    # 3. Capacity (the free capacity left after reservations and higher-priority work).
    cap_ok = fc if fit is None else fc & fit
    if not cap_ok.any():
        needs = prep.needs[i]
        best: dict[int, tuple[float, int, int]] = {}
        fc_cols = np.flatnonzero(fc.any(axis=0))
        fc_in = fc[:, fc_cols]
        for r in range(3):
            if needs[r] <= 0:
                continue
            table = prob.free_range_min(r)
            best[r] = _most_free_in(prob.free[r], arrays.first_slot[w], arrays.end_slot[w], fc_cols, fc_in, table)
        short = [r for r in best if best[r][0] < needs[r] - 1e-9]
        details = dict(base_details)
        for r in best:
            free, z, j = best[r]
            details[_RESOURCES[r]] = {
                "needed": float(needs[r]),
                "most_free": max(free, 0.0) if math.isfinite(free) else None,  # None = unlimited
                "zone": prob.codes[z],
                "start": col_time(j).isoformat(),
            }
        if short:
            parts = []
            for r in short:
                free, z, j = best[r]
                parts.append(
                    f"No zone has {_resource_phrase(r, float(needs[r]))} in the window {window} "
                    f"(at most {max(free, 0.0):g} free: {label(z)} from {fmt_time(col_time(j))})"
                )
            msg = "; ".join(parts)
        else:
            phrases = [_resource_phrase(r, float(needs[r])) for r in best]
            joined = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
            msg = f"No zone has {joined} at the same time in the window {window}"
        return Infeasibility(Constraint.CAPACITY, msg, details)

    # 4. Carbon cap.
    carbon_ok = cap_ok & arrays.carbon_ok[w]
    if not carbon_ok.any():
        em = np.where(cap_ok, arrays.emissions[w], np.inf)
        z, j = np.unravel_index(int(np.argmin(em)), em.shape)
        lowest = float(em[z, j])
        cap = float(prep.ccap[i])
        s_cap, s_low = _cap_below(cap, lowest, 0)
        msg = (
            f"Carbon cap {s_cap} g is below the lowest expected emissions {s_low} g "
            f"({label(int(z))}, {fmt_time(col_time(int(j)))})"
        )
        details = dict(
            base_details,
            carbon_cap_g=cap,
            lowest_emissions_g=lowest,
            shortfall_g=lowest - cap,
            zone=prob.codes[int(z)],
            start=col_time(int(j)).isoformat(),
        )
        return Infeasibility(Constraint.CARBON_CAP, msg, details)

    # 5. Price cap.
    price_ok = carbon_ok & arrays.price_ok[w]
    if not price_ok.any():
        cost = np.where(carbon_ok, arrays.cost[w], np.inf)
        z, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
        lowest = float(cost[z, j])
        cap = float(prep.pcap[i])
        s_cap, s_low = _cap_below(cap, lowest, 2)
        within = " among options within the carbon cap" if wl.carbon_cap_g is not None else ""
        msg = (
            f"Price cap £{s_cap} is below the lowest expected cost £{s_low} "
            f"({label(int(z))}, {fmt_time(col_time(int(j)))}){within}"
        )
        details = dict(
            base_details,
            price_cap_gbp=cap,
            lowest_cost_gbp=lowest,
            shortfall_gbp=lowest - cap,
            zone=prob.codes[int(z)],
            start=col_time(int(j)).isoformat(),
        )
        return Infeasibility(Constraint.PRICE_CAP, msg, details)

    raise AssertionError("diagnose() called for a workload that has feasible options")
