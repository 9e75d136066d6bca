"""Plain data types of the scheduling engine.

Everything here is a frozen dataclass or a small NumPy container so the engine
stays free of Django: the web layer converts its model instances into these
types, calls :func:`scheduling.engine.rank_options` /
:func:`scheduling.engine.schedule_batch`, and converts the plans back.

Time conventions (why they matter: the engine mixes wall-clock instants with a
half-hourly grid):

* every ``datetime`` must be timezone-aware; it is converted to UTC. Naive
  datetimes are rejected because guessing their zone silently shifts every
  decision by hours.
* the forecast grid is half-hourly (``SLOT_MINUTES``) and starts on :00 or :30.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import ClassVar

import numpy as np
import numpy.typing as npt

SLOT_MINUTES: int = 30
"""Length of one forecast slot (the GB settlement period)."""

SLOT: timedelta = timedelta(minutes=SLOT_MINUTES)

FloatArray = npt.NDArray[np.float64]


def as_utc(value: datetime, name: str = "datetime") -> datetime:
    """Return ``value`` in UTC, refusing naive datetimes (their zone is unknown)."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


def fmt_time(value: datetime) -> str:
    """Operator-facing UTC timestamp, e.g. ``2026-11-23 14:00 UTC`` (every text Pylon writes uses it)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class Urgency(StrEnum):
    """How urgently a workload must run; drives priority and acceptable waiting."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


URGENCY_RANK: dict[Urgency, int] = {
    Urgency.CRITICAL: 0,
    Urgency.HIGH: 1,
    Urgency.MEDIUM: 2,
    Urgency.LOW: 3,
}
"""Batch priority: lower rank is scheduled first (CRITICAL > HIGH > MEDIUM > LOW)."""

URGENCY_ACCEPTABLE_WAIT_SHARE: dict[Urgency, float] = {
    Urgency.LOW: 1.0,
    Urgency.MEDIUM: 0.5,
    Urgency.HIGH: 0.25,
    Urgency.CRITICAL: 0.0,
}
"""Share of the (remaining) deferral window a workload may wait before the wait
part of its score reaches 1. More urgent work tolerates less waiting; CRITICAL
work never waits (it always starts now)."""


class Constraint(StrEnum):
    """The constraint that eliminated the last options of a workload."""

    NO_ZONES = "NO_ZONES"
    DEADLINE = "DEADLINE"
    NO_FORECAST = "NO_FORECAST"
    CAPACITY = "CAPACITY"
    CARBON_CAP = "CARBON_CAP"
    PRICE_CAP = "PRICE_CAP"


@dataclass(frozen=True)
class PolicyWeights:
    """Non-negative weights of the three score parts (carbon, price, waiting).

    Each part is normalised (see :mod:`scheduling.engine.evaluate`) so the weights
    are comparable: ``carbon=1, wait=1`` means waiting the whole acceptable
    window is worth as much as the host-now emissions.
    """

    carbon: float
    price: float
    wait: float

    def __post_init__(self) -> None:
        for name in ("carbon", "price", "wait"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"policy weight {name} must be finite and >= 0, got {value!r}")

    # Presets, assigned below the class (a dataclass cannot instantiate itself
    # in its own body): PolicyWeights.CARBON_FIRST etc.
    CARBON_FIRST: ClassVar[PolicyWeights]
    BALANCED: ClassVar[PolicyWeights]
    COST_FIRST: ClassVar[PolicyWeights]

    @classmethod
    def preset(cls, name: str) -> PolicyWeights:
        """Look a preset up by name (CARBON_FIRST, BALANCED, COST_FIRST)."""
        try:
            return POLICY_PRESETS[name.upper()]
        except KeyError:
            raise ValueError(f"unknown policy preset {name!r}; expected one of {sorted(POLICY_PRESETS)}") from None


CARBON_FIRST = PolicyWeights(carbon=1.0, price=0.0, wait=0.0)
"""Pure carbon minimisation: the best option is the minimum-emission feasible one."""
BALANCED = PolicyWeights(carbon=0.4, price=0.4, wait=0.2)
"""Carbon and cost count equally, waiting a little less."""
COST_FIRST = PolicyWeights(carbon=0.0, price=1.0, wait=0.0)
"""Pure cost minimisation (the mirror image of CARBON_FIRST)."""

POLICY_PRESETS: dict[str, PolicyWeights] = {
    "CARBON_FIRST": CARBON_FIRST,
    "BALANCED": BALANCED,
    "COST_FIRST": COST_FIRST,
}
PolicyWeights.CARBON_FIRST = CARBON_FIRST
PolicyWeights.BALANCED = BALANCED
PolicyWeights.COST_FIRST = COST_FIRST


@dataclass(frozen=True)
class WorkloadInput:
    """One workload to place.

    ``carbon_cap_g`` and ``price_cap_gbp`` are totals for the whole run
    (grams CO2, GBP). ``gpu_mins`` are GPU-minutes spread over the run, so the
    workload needs ``gpu_mins / duration_mins`` GPUs on average; ``cpu_cores``
    and ``memory_gb`` are needed concurrently for the whole run. A missing
    ``energy_kwh`` is estimated from those resources (see
    :func:`scheduling.engine.energy.estimate_energy_kwh`).
    """

    key: str
    energy_kwh: float | None
    duration_mins: int
    submitted_at: datetime
    deadline: datetime | None = None
    deferral_window_mins: int = 0
    is_deferrable: bool = True
    urgency: Urgency = Urgency.MEDIUM
    carbon_cap_g: float | None = None
    price_cap_gbp: float | None = None
    host_zone: str | None = None
    gpu_mins: float = 0.0
    cpu_cores: float = 0.0
    memory_gb: float = 0.0

    def __post_init__(self) -> None:
        if self.duration_mins <= 0:
            raise ValueError(f"workload {self.key}: duration_mins must be > 0")
        if self.deferral_window_mins < 0:
            raise ValueError(f"workload {self.key}: deferral_window_mins must be >= 0")
        for name in ("energy_kwh", "carbon_cap_g", "price_cap_gbp"):
            value = getattr(self, name)
            if value is not None and (math.isnan(value) or (name == "energy_kwh" and value < 0)):
                raise ValueError(f"workload {self.key}: invalid {name} {value!r}")
        for name in ("gpu_mins", "cpu_cores", "memory_gb"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"workload {self.key}: {name} must be finite and >= 0")
        object.__setattr__(self, "urgency", Urgency(self.urgency))
        object.__setattr__(self, "submitted_at", as_utc(self.submitted_at, "submitted_at"))
        if self.deadline is not None:
            object.__setattr__(self, "deadline", as_utc(self.deadline, "deadline"))

    @property
    def gpus(self) -> float:
        """Average concurrent GPUs: GPU-minutes spread over the run."""
        return self.gpu_mins / self.duration_mins

    @property
    def may_defer(self) -> bool:
        """CRITICAL and non-deferrable work always starts now."""
        return self.is_deferrable and self.urgency != Urgency.CRITICAL and self.deferral_window_mins > 0


@dataclass(frozen=True)
class ZoneInput:
    """A compute zone and its total capacity (``math.inf`` = unlimited)."""

    code: str
    gpu_capacity: float = math.inf
    cpu_capacity: float = math.inf
    memory_gb_capacity: float = math.inf
    name: str | None = None

    @property
    def label(self) -> str:
        """Human name used in operator messages."""
        return self.name or self.code


@dataclass
class ForecastGrid:
    """Half-hourly forecasts per zone.

    ``intensity`` (gCO2/kWh) and ``price`` (GBP/kWh) are ``(Z, T)`` arrays whose
    rows follow ``zone_codes``; slot ``t`` covers ``[start + t*30min, start +
    (t+1)*30min)``. NaN means *unknown*, never zero: an option touching an
    unknown slot is infeasible. ``price=None`` means no price data at all.
    """

    start: datetime
    zone_codes: list[str]
    intensity: FloatArray
    price: FloatArray | None = None

    def __post_init__(self) -> None:
        self.start = as_utc(self.start, "grid start")
        if self.start.second or self.start.microsecond or self.start.minute % SLOT_MINUTES:
            raise ValueError(f"grid start {self.start} is not aligned to a half hour")
        self.intensity = np.asarray(self.intensity, dtype=np.float64)
        if self.intensity.ndim != 2 or self.intensity.shape[0] != len(self.zone_codes):
            raise ValueError("intensity must be (len(zone_codes), T)")
        if self.price is None:
            self.price = np.full(self.intensity.shape, np.nan)
        else:
            self.price = np.asarray(self.price, dtype=np.float64)
            if self.price.shape != self.intensity.shape:
                raise ValueError("price must have the same shape as intensity")
        if len(set(self.zone_codes)) != len(self.zone_codes):
            raise ValueError("duplicate zone codes in forecast grid")

    @property
    def n_slots(self) -> int:
        return int(self.intensity.shape[1])

    @property
    def end(self) -> datetime:
        return self.start + self.n_slots * SLOT

    def slot_start(self, index: int) -> datetime:
        return self.start + index * SLOT


@dataclass
class Reservations:
    """Capacity already reserved per zone per slot (SCHEDULED/RUNNING work).

    Arrays are ``(len(zone_codes), T)`` on the forecast grid's time axis.
    Zones absent here have nothing reserved.
    """

    zone_codes: list[str]
    gpu: FloatArray
    cpu: FloatArray
    memory: FloatArray

    @classmethod
    def empty(cls, zone_codes: Sequence[str], n_slots: int) -> Reservations:
        z = len(zone_codes)
        return cls(list(zone_codes), np.zeros((z, n_slots)), np.zeros((z, n_slots)), np.zeros((z, n_slots)))

    def copy(self) -> Reservations:
        return Reservations(list(self.zone_codes), self.gpu.copy(), self.cpu.copy(), self.memory.copy())

    def add_run(
        self,
        zone_code: str,
        start: datetime,
        end: datetime,
        grid_start: datetime,
        *,
        gpus: float = 0.0,
        cpu_cores: float = 0.0,
        memory_gb: float = 0.0,
    ) -> None:
        """Reserve resources in every slot that ``[start, end)`` overlaps.

        Used to turn SCHEDULED/RUNNING workloads into reservations; a partial
        overlap reserves the whole slot because capacity is checked per slot.
        """
        row = self.zone_codes.index(zone_code)
        t = self.gpu.shape[1]
        a = (as_utc(start) - as_utc(grid_start)) / SLOT
        b = (as_utc(end) - as_utc(grid_start)) / SLOT
        first = max(0, math.floor(a))
        last = min(t, math.ceil(b))
        if last <= first:
            return
        self.gpu[row, first:last] += gpus
        self.cpu[row, first:last] += cpu_cores
        self.memory[row, first:last] += memory_gb


@dataclass(frozen=True)
class ScoreParts:
    """Normalised, unweighted parts of a score (see core module docstring)."""

    carbon: float
    price: float
    wait: float


@dataclass(frozen=True)
class Option:
    """One candidate placement: a zone and its best start time."""

    zone: str
    start: datetime
    end: datetime
    emissions_g: float
    emissions_kg: float
    cost_gbp: float | None
    carbon_saving_g: float | None
    cost_saving_gbp: float | None
    score: float
    score_parts: ScoreParts
    mean_intensity: float
    mean_price: float | None
    wait_mins: float


@dataclass(frozen=True)
class Baseline:
    """Running at once in the host zone: the reference for savings.

    A counterfactual, so it ignores caps, deadline and capacity; it exists
    whenever the host zone is known and its forecast covers the run.
    """

    zone: str
    start: datetime
    end: datetime
    emissions_g: float
    cost_gbp: float | None


@dataclass(frozen=True)
class Infeasibility:
    """Why nothing is feasible, naming the binding constraint in operator words.

    ``details`` holds the figures behind the message (closest misses etc.) as
    plain JSON-friendly values (datetimes as ISO strings).
    """

    constraint: Constraint
    message: str
    details: dict[str, object]


@dataclass(frozen=True)
class WorkloadPlan:
    """Result for one workload: up to ``top_k`` options in distinct zones, best first."""

    key: str
    options: list[Option]
    baseline: Baseline | None
    infeasible: Infeasibility | None
    energy_kwh_used: float
    energy_was_estimated: bool

    @property
    def best(self) -> Option | None:
        return self.options[0] if self.options else None


@dataclass(frozen=True)
class BatchResult:
    """Plans in input order, the priority order used, and the reservations after."""

    plans: list[WorkloadPlan]
    priority_order: list[str]
    reservations: Reservations
