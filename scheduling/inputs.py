"""From the database to the engine's types: zones, the forecast grid, reservations, workloads.

Reads only. Every function here costs a fixed number of queries whatever the number of zones and
workloads, so a recompute of thousands of workloads is a handful of bulk reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings

from scheduling import engine
from scheduling.models import Recommendation
from workloads import capacity
from workloads.models import WorkloadStatus
from workloads.services import workload_default_duration_mins
from zones import selectors as zone_selectors
from zones.models import GridZone

#: Half hours of forecast the engine looks at: 48 hours, what the NESO regional forecast covers.
HORIZON_SLOTS: int = getattr(settings, "SCHEDULING_HORIZON_SLOTS", 96)

#: The columns of a workload the engine needs (read with ``values()``, no model instances).
WORKLOAD_FIELDS = (
    "id",
    "organization_id",
    "user_id",
    "job_id",
    "workload_name",
    "updated_at",
    "host_dc_id",
    "urgency",
    "submitted_at",
    "deadline",
    "deferral_window_mins",
    "is_deferrable",
    "estimated_energy_kwh",
    "estimated_duration_mins",
    "required_gpu_mins",
    "required_cpu_cores",
    "required_memory_gb",
    "carbon_cap_gco2",
    "max_price_gbp",
    "recommended_grid_zone_id",
    "recommended_2_grid_zone_id",
    "recommended_3_grid_zone_id",
)


@dataclass
class SchedulingContext:
    """Everything a computation shares: zones, their forecast and the capacity already reserved."""

    now: datetime
    zones: list[GridZone]
    zone_by_code: dict[str, GridZone]
    zone_inputs: list[engine.ZoneInput]
    grid: engine.ForecastGrid
    forecast_fetched_at: datetime | None
    reservations: engine.Reservations

    def zone(self, code: str) -> GridZone:
        return self.zone_by_code[code]


def zone_code(zone_id: UUID | str) -> str:
    """The engine's name for a zone: its primary key as text."""
    return str(zone_id)


def context_load(*, now: datetime, horizon_slots: int = HORIZON_SLOTS) -> SchedulingContext:
    """Zones, the forecast from the half hour containing ``now``, and reservations: four queries."""
    zones = list(GridZone.objects.order_by("zone_id"))
    data = zone_selectors.intensity_grid(zones=zones, start=now, slots=horizon_slots)
    codes = [zone_code(zone_id) for zone_id in data.zone_ids]
    grid = engine.ForecastGrid(data.start, codes, data.intensity, data.price)
    by_code = {zone_code(zone.pk): zone for zone in zones}
    zone_inputs = [
        engine.ZoneInput(
            code=zone_code(zone.pk),
            gpu_capacity=float(zone.gpu_capacity),
            cpu_capacity=float(zone.cpu_core_capacity),
            memory_gb_capacity=float(zone.memory_gb_capacity),
            name=zone.zone_name,
        )
        for zone in zones
    ]
    return SchedulingContext(
        now=now,
        zones=zones,
        zone_by_code=by_code,
        zone_inputs=zone_inputs,
        grid=grid,
        forecast_fetched_at=data.fetched_at,
        reservations=reservations_load(grid=grid, now=now),
    )


def reservations_load(*, grid: engine.ForecastGrid, now: datetime) -> engine.Reservations:
    """Capacity held in the grid's half hours: the ledger (``workloads.capacity``) summed per zone and
    half hour — runs past their estimate and late starts included (``capacity.holds_roll``). One query."""
    reservations = engine.Reservations.empty(grid.zone_codes, grid.n_slots)
    row = {code: i for i, code in enumerate(grid.zone_codes)}
    slot = timedelta(minutes=engine.SLOT_MINUTES)
    for zone_id, slot_start, gpus, cores, memory in capacity.held_in_grid(start=grid.start, end=grid.end):
        i = row.get(zone_code(zone_id))
        k = int((slot_start - grid.start) / slot)
        if i is not None and 0 <= k < grid.n_slots:
            reservations.gpu[i, k] += gpus or 0.0
            reservations.cpu[i, k] += cores or 0.0
            reservations.memory[i, k] += memory or 0.0
    return reservations


def tentative_add(*, reservations: engine.Reservations, grid: engine.ForecastGrid, excluding: set) -> None:
    """Add to ``reservations`` the best option (rank 1) stored for every other PENDING workload: what
    other chunks of a recompute have promised, so that recommendations never add up past a zone's
    capacity either. One query."""
    known = set(grid.zone_codes)
    rows = (
        Recommendation.objects.filter(
            rank=1, workload__status=WorkloadStatus.PENDING, start__lt=grid.end, end__gt=grid.start
        )
        .order_by()
        .values_list(
            "workload_id",
            "zone_id",
            "start",
            "end",
            "workload__estimated_duration_mins",
            "workload__required_gpu_mins",
            "workload__required_cpu_cores",
            "workload__required_memory_gb",
        )
    )
    for workload_id, zone_id, start, end, duration_mins, gpu_mins, cores, memory in rows:
        code = zone_code(zone_id)
        if workload_id in excluding or code not in known:
            continue
        reservations.add_run(
            code,
            start,
            end,
            grid.start,
            gpus=float(gpu_mins) / duration_mins,
            cpu_cores=float(cores),
            memory_gb=float(memory),
        )


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def workload_input(row: dict[str, Any]) -> engine.WorkloadInput:
    """A workload row (``values(*WORKLOAD_FIELDS)``) as the engine's input."""
    return engine.WorkloadInput(
        key=str(row["id"]),
        energy_kwh=_float(row["estimated_energy_kwh"]),
        duration_mins=row["estimated_duration_mins"],
        submitted_at=row["submitted_at"],
        deadline=row["deadline"],
        deferral_window_mins=row["deferral_window_mins"],
        is_deferrable=row["is_deferrable"],
        urgency=row["urgency"],
        carbon_cap_g=_float(row["carbon_cap_gco2"]),
        price_cap_gbp=_float(row["max_price_gbp"]),
        host_zone=zone_code(row["host_dc_id"]),
        gpu_mins=float(row["required_gpu_mins"]),
        cpu_cores=float(row["required_cpu_cores"]),
        memory_gb=float(row["required_memory_gb"]),
    )


def unsaved_workload_input(data: dict[str, Any], *, now: datetime) -> engine.WorkloadInput:
    """Validated submission data (``WorkloadInputSerializer``) as if submitted ``now``."""
    duration = data.get("estimated_duration_mins") or workload_default_duration_mins(
        required_gpu_mins=data.get("required_gpu_mins")
    )
    row = {
        "id": "preview",
        "estimated_energy_kwh": data.get("estimated_energy_kwh"),
        "estimated_duration_mins": duration,
        "submitted_at": now,
        "deadline": data.get("deadline"),
        "deferral_window_mins": data.get("deferral_window_mins", 0),
        "is_deferrable": data.get("is_deferrable", True),
        "urgency": data.get("urgency", "MEDIUM"),
        "carbon_cap_gco2": data.get("carbon_cap_gco2"),
        "max_price_gbp": data.get("max_price_gbp"),
        "host_dc_id": data["host_dc"].pk,
        "required_gpu_mins": data.get("required_gpu_mins") or Decimal(0),
        "required_cpu_cores": data.get("required_cpu_cores") or 0,
        "required_memory_gb": data.get("required_memory_gb") or Decimal(0),
    }
    return workload_input(row)
