"""Workloads as per-workload arrays in priority order, and the priority order itself."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from .energy import estimate_energy_kwh
from .problem import SLOT_SECONDS, BoolArray, IntArray, Problem
from .types import URGENCY_ACCEPTABLE_WAIT_SHARE, URGENCY_RANK, FloatArray, PolicyWeights, WorkloadInput, as_utc


@dataclass
class Prepared:
    """Per-workload scalars as arrays (one entry per workload, priority order)."""

    workloads: list[WorkloadInput]
    energy: FloatArray
    estimated: BoolArray
    t0: FloatArray  # seconds after grid start
    t0_dt: list[datetime]
    dur: FloatArray  # seconds
    latest: FloatArray  # latest allowed start, seconds
    may_defer: BoolArray
    deadline: FloatArray  # seconds, inf = none
    ccap: FloatArray  # inf = none
    pcap: FloatArray  # inf = none
    has_pcap: BoolArray
    host: IntArray  # zone index, -1 = none/unknown
    weights: FloatArray  # (B, 3)
    acceptable_wait: FloatArray  # seconds, > 0
    price_required: BoolArray
    needs: FloatArray  # (B, 3) gpu, cpu, memory


def resolve_weights(
    workloads: Sequence[WorkloadInput], weights: PolicyWeights | Mapping[str, PolicyWeights]
) -> list[PolicyWeights]:
    if isinstance(weights, PolicyWeights):
        return [weights] * len(workloads)
    out = []
    for w in workloads:
        if w.key not in weights:
            raise KeyError(f"no policy weights for workload {w.key!r}")
        out.append(weights[w.key])
    return out


def prepare(
    workloads: Sequence[WorkloadInput], weights: Sequence[PolicyWeights], prob: Problem, now: datetime
) -> Prepared:
    n = len(workloads)
    zindex = {c: i for i, c in enumerate(prob.codes)}
    energy = np.empty(n)
    estimated = np.zeros(n, dtype=bool)
    t0 = np.empty(n)
    t0_dt: list[datetime] = []
    dur = np.empty(n)
    latest = np.empty(n)
    may_defer = np.zeros(n, dtype=bool)
    deadline = np.full(n, np.inf)
    ccap = np.full(n, np.inf)
    pcap = np.full(n, np.inf)
    has_pcap = np.zeros(n, dtype=bool)
    host = np.full(n, -1, dtype=np.intp)
    wts = np.empty((n, 3))
    acc = np.empty(n)
    needs = np.empty((n, 3))
    gs = prob.grid_start
    for i, w in enumerate(workloads):
        if w.energy_kwh is None:
            energy[i] = estimate_energy_kwh(w.duration_mins, w.gpu_mins, w.cpu_cores, w.memory_gb)
            estimated[i] = True
        else:
            energy[i] = w.energy_kwh
        start = max(now, w.submitted_at)
        t0_dt.append(start)
        t0[i] = (start - gs).total_seconds()
        dur[i] = w.duration_mins * 60.0
        may_defer[i] = w.may_defer
        window_end = (w.submitted_at + timedelta(minutes=w.deferral_window_mins) - gs).total_seconds()
        latest[i] = max(t0[i], window_end) if may_defer[i] else t0[i]
        if w.deadline is not None:
            deadline[i] = (w.deadline - gs).total_seconds()
        if w.carbon_cap_g is not None:
            ccap[i] = w.carbon_cap_g
        if w.price_cap_gbp is not None:
            pcap[i] = w.price_cap_gbp
            has_pcap[i] = True
        if w.host_zone is not None and w.host_zone in zindex:
            host[i] = zindex[w.host_zone]
        policy = weights[i]
        wts[i] = (policy.carbon, policy.price, policy.wait)
        share = URGENCY_ACCEPTABLE_WAIT_SHARE[w.urgency]
        acc[i] = max(share * (latest[i] - t0[i]), SLOT_SECONDS)
        needs[i] = (w.gpus, w.cpu_cores, w.memory_gb)
    price_required = has_pcap | (wts[:, 1] > 0)
    return Prepared(
        list(workloads),
        energy,
        estimated,
        t0,
        t0_dt,
        dur,
        latest,
        may_defer,
        deadline,
        ccap,
        pcap,
        has_pcap,
        host,
        wts,
        acc,
        price_required,
        needs,
    )


def priority_order(workloads: Sequence[WorkloadInput], now: datetime) -> list[int]:
    """Indices of ``workloads`` in scheduling priority order.

    Urgency first (CRITICAL > HIGH > MEDIUM > LOW), then deadline slack
    ascending (time left after the earliest possible finish; no deadline =
    infinite slack), then submission time, then input order (stable).
    """
    now = as_utc(now, "now")

    def key(i: int) -> tuple[int, float, datetime, int]:
        w = workloads[i]
        if w.deadline is None:
            slack = math.inf
        else:
            slack = (w.deadline - max(now, w.submitted_at)).total_seconds() - 60.0 * w.duration_mins
        return (URGENCY_RANK[w.urgency], slack, w.submitted_at, i)

    return sorted(range(len(workloads)), key=key)
