"""Writes for grid zones (staff only; the API and the admin both come through here)."""

from django.utils import timezone

from pylon.services import model_update
from zones.models import GridZone

ZONE_WRITABLE_FIELDS = [
    "zone_id",
    "zone_name",
    "grid_zone_code",
    "region",
    "country",
    "latitude",
    "longitude",
    "carbon_intensity",
    "energy_price",
    "neso_region_id",
    "gpu_capacity",
    "cpu_core_capacity",
    "memory_gb_capacity",
]


FIGURE_FIELDS = ("carbon_intensity", "energy_price")


def zone_create(**data) -> GridZone:
    zone = GridZone(**{name: data[name] for name in ZONE_WRITABLE_FIELDS if name in data})
    zone.figures_updated_at = timezone.now()
    zone.full_clean()
    zone.save()
    return zone


def zone_update(*, zone: GridZone, data: dict) -> GridZone:
    figures_change = any(name in data and getattr(zone, name) != data[name] for name in FIGURE_FIELDS)
    if figures_change:
        data = {**data, "figures_updated_at": timezone.now()}
    zone, _ = model_update(instance=zone, fields=[*ZONE_WRITABLE_FIELDS, "figures_updated_at"], data=data)
    return zone
