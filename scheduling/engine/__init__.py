"""Pylon's pure scheduling engine (no Django): rank and place workloads.

The web layer converts models into the dataclasses of :mod:`.types`, calls
:func:`rank_options` (preview of one unsaved workload) or :func:`schedule_batch`
(recompute many, placing capacity in priority order) and stores the plans.
Everything is deterministic given its inputs; "now" is always a parameter.
"""

from .core import priority_order, rank_options, run_footprint, schedule_batch
from .energy import (
    CPU_CORE_WATTS,
    DEFAULT_PUE,
    GPU_WATTS,
    MEMORY_WATTS_PER_GB,
    estimate_energy_kwh,
    estimate_power_watts,
)
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
    "priority_order",
    "rank_options",
    "run_footprint",
    "schedule_batch",
]
