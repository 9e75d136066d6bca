"""The workloads CSV download: one row per workload with its accounting, streamed from the database."""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.db.models import QuerySet

from zones import selectors as zone_selectors

#: (header, column read) in the file's order; zones are written by their grid zone code.
COLUMNS = (
    ("job_id", "job_id"),
    ("id", "id"),
    ("workload_name", "workload_name"),
    ("workload_type", "workload_type"),
    ("urgency", "urgency"),
    ("status", "status"),
    ("owner_email", "user__email"),
    ("owner_name", "user__user_name"),
    ("host_zone", "host_dc_id"),
    ("chosen_zone", "chosen_grid_zone_id"),
    ("submitted_at", "submitted_at"),
    ("deadline", "deadline"),
    ("planned_start", "planned_start"),
    ("actual_start", "actual_start"),
    ("actual_end", "actual_end"),
    ("required_gpu_mins", "required_gpu_mins"),
    ("required_cpu_cores", "required_cpu_cores"),
    ("required_memory_gb", "required_memory_gb"),
    ("estimated_duration_mins", "estimated_duration_mins"),
    ("estimated_energy_kwh", "estimated_energy_kwh"),
    ("actual_energy_kwh", "actual_energy_kwh"),
    ("carbon_cap_gco2", "carbon_cap_gco2"),
    ("max_price_gbp", "max_price_gbp"),
    ("carbon_emitted_kg", "carbon_emitted_kg"),
    ("baseline_carbon_kg", "baseline_carbon_kg"),
    ("cost_gbp", "cost_gbp"),
    ("baseline_cost_gbp", "baseline_cost_gbp"),
)
#: Computed per row: baseline − actual, as the dashboard's savings (empty until accounted).
SAVINGS = (
    ("carbon_saved_kg", "baseline_carbon_kg", "carbon_emitted_kg"),
    ("cost_saved_gbp", "baseline_cost_gbp", "cost_gbp"),
)
HEADER = (*(header for header, _ in COLUMNS), *(name for name, _, _ in SAVINGS))
_ZONE_COLUMNS = {"host_dc_id", "chosen_grid_zone_id"}


def workload_export_rows(workloads: QuerySet) -> Iterator[list]:
    """The rows of ``workloads`` (already scoped by the selector and filtered), read in chunks of
    ``EXPORT_CHUNK_ROWS`` (a server-side cursor on PostgreSQL): memory stays flat for any number."""
    zone_codes = dict(zone_selectors.zone_list().values_list("id", "grid_zone_code"))
    sources = [column for _, column in COLUMNS]
    position = {column: index for index, column in enumerate(sources)}
    zone_slots = [position[column] for column in _ZONE_COLUMNS]
    savings = [(position[baseline], position[actual]) for _, baseline, actual in SAVINGS]
    for values in workloads.values_list(*sources).iterator(chunk_size=settings.EXPORT_CHUNK_ROWS):
        row = list(values)
        for slot in zone_slots:
            row[slot] = zone_codes.get(row[slot], row[slot])
        for baseline, actual in savings:
            row.append(None if row[baseline] is None or row[actual] is None else row[baseline] - row[actual])
        yield row
