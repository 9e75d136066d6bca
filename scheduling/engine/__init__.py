"""Pylon's pure scheduling engine (no Django): rank and place workloads.

The web layer converts models into the dataclasses of :mod:`.types`, calls
:func:`rank_options` (preview of one unsaved workload) or :func:`schedule_batch`
(recompute many, placing capacity in priority order) and stores the plans.
Everything is deterministic given its inputs ("now" is always a parameter), but for the
placement step under a time budget: how far it searches depends on the machine
(``schedule_batch(placement_seconds=None)`` bounds it by rounds alone).

Modules, in the order the work flows: :mod:`.problem` (zones, forecasts and free
capacity as arrays), :mod:`.prepare` (workloads as arrays, priority order),
:mod:`.evaluate` (every option's figures and score at once), :mod:`.greedy`
(placement in priority order, reserving capacity), :mod:`.placement` (where capacity
binds, a better placement within a time budget, on :mod:`.candidates`, with exact moves by
:mod:`.submip`), :mod:`.diagnose` (why nothing
is feasible), :mod:`.plans` (the results), :mod:`.schedule` (the entry points);
:mod:`.footprint` accounts one given run the same way.
"""

from .energy import (
    CPU_CORE_WATTS,
    DEFAULT_PUE,
    GPU_WATTS,
    MEMORY_WATTS_PER_GB,
    estimate_energy_kwh,
    estimate_power_watts,
)
from .footprint import run_footprint, time_weighted_mean
from .prepare import priority_order
from .schedule import rank_options, schedule_batch
from .types import (
    BALANCED,
    CARBON_FIRST,
    COST_FIRST,
    POLICY_PRESETS,
    SLOT_MINUTES,
    Baseline,
    BatchResult,
    Constraint,
    ForecastGrid,
    Infeasibility,
    Option,
    PolicyWeights,
    Reservations,
    ScoreParts,
    Urgency,
    WorkloadInput,
    WorkloadPlan,
    ZoneInput,
    fmt_time,
)

__all__ = [
    "BALANCED",
    "CARBON_FIRST",
    "COST_FIRST",
    "CPU_CORE_WATTS",
    "DEFAULT_PUE",
    "GPU_WATTS",
    "MEMORY_WATTS_PER_GB",
    "POLICY_PRESETS",
    "SLOT_MINUTES",
    "Baseline",
    "BatchResult",
    "Constraint",
    "ForecastGrid",
    "Infeasibility",
    "Option",
    "PolicyWeights",
    "Reservations",
    "ScoreParts",
    "Urgency",
    "WorkloadInput",
    "WorkloadPlan",
    "ZoneInput",
    "estimate_energy_kwh",
    "estimate_power_watts",
    "fmt_time",
    "priority_order",
    "rank_options",
    "run_footprint",
    "schedule_batch",
    "time_weighted_mean",
]
