"""Engine figures of the chosen options turned into the plain ``WorkloadPlan`` results."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from .evaluate import OptionArrays
from .prepare import Prepared
from .problem import Problem
from .types import Baseline, Infeasibility, Option, ScoreParts, WorkloadPlan


def build_plans(
    prob: Problem,
    prep: Prepared,
    arrays: OptionArrays,
    lo: int,
    done: list[tuple[int, list[tuple[int, int]], Infeasibility | None]],
    slot_times: list[datetime],
) -> list[WorkloadPlan]:
    """The plans of a chunk (``done[w]`` = picks and infeasibility of chunk row ``w``, workload
    ``lo + w``). Every figure is gathered once per array for the whole chunk; ``tolist()`` gives
    the same Python floats as ``float()`` of each element, and the arithmetic below is the same
    float arithmetic, so the plans are exactly those of building them one at a time."""
    b = len(done)
    rows = [w for w, (picks, _) in enumerate(done) for _ in picks]
    if rows:
        ws = np.array(rows, dtype=np.intp)
        zs = np.array([z for picks, _ in done for z, _ in picks], dtype=np.intp)
        js = np.array([j for picks, _ in done for _, j in picks], dtype=np.intp)
        em_l = arrays.emissions[ws, zs, js].tolist()
        cost_l = arrays.cost[ws, zs, js].tolist()
        mp_l = arrays.mean_p[ws, zs, js].tolist()
        mi_l = arrays.mean_i[ws, zs, js].tolist()
        score_l = arrays.score[ws, zs, js].tolist()
        wait_l = (arrays.start[ws, js] - prep.t0[lo + ws]).tolist()
    sl = slice(lo, lo + b)
    base_e_l = arrays.base_e.tolist()
    base_c_l = arrays.base_c.tolist()
    e_ref_l = arrays.e_ref.tolist()
    c_ref_l = arrays.c_ref.tolist()
    acc_l = prep.acceptable_wait[sl].tolist()
    energy_l = prep.energy[sl].tolist()
    estimated_l = prep.estimated[sl].tolist()
    host_l = prep.host[sl].tolist()
    codes = prob.codes
    plans = []
    k = 0  # position in the gathered lists
    for w, (picks, infeasible) in enumerate(done):
        i = lo + w
        wl = prep.workloads[i]
        t0_dt = prep.t0_dt[i]
        duration = timedelta(minutes=wl.duration_mins)
        base_e = base_e_l[w]
        base_c = base_c_l[w]
        baseline = None
        if not math.isnan(base_e):
            baseline = Baseline(
                zone=codes[host_l[w]],
                start=t0_dt,
                end=t0_dt + duration,
                emissions_g=base_e,
                cost_gbp=None if math.isnan(base_c) else base_c,
            )
        options = []
        for z, j in picks:
            start = t0_dt if j == 0 else slot_times[j - 1]
            em = em_l[k]
            cost = cost_l[k]
            cost_v = None if math.isnan(cost) else cost
            mp = mp_l[k]
            wait_s = wait_l[k]
            parts = ScoreParts(
                carbon=em / e_ref_l[w],
                price=0.0 if cost_v is None else cost_v / c_ref_l[w],
                wait=wait_s / acc_l[w],
            )
            options.append(
                Option(
                    zone=codes[z],
                    start=start,
                    end=start + duration,
                    emissions_g=em,
                    emissions_kg=em / 1000.0,
                    cost_gbp=cost_v,
                    carbon_saving_g=None if baseline is None else base_e - em,
                    cost_saving_gbp=(
                        None if (baseline is None or cost_v is None or math.isnan(base_c)) else base_c - cost_v
                    ),
                    score=score_l[k],
                    score_parts=parts,
                    mean_intensity=mi_l[k],
                    mean_price=None if math.isnan(mp) else mp,
                    wait_mins=wait_s / 60.0,
                )
            )
            k += 1
        plans.append(
            WorkloadPlan(
                key=wl.key,
                options=options,
                baseline=baseline,
                infeasible=infeasible,
                energy_kwh_used=energy_l[w],
                energy_was_estimated=estimated_l[w],
            )
        )
    return plans
