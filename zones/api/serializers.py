from decimal import Decimal

from rest_framework import serializers

from pylon.api.serializers import StrictInputMixin
from zones.models import MAX_INTENSITY, MAX_PRICE, GridZone


class CoordinatesSerializer(StrictInputMixin, serializers.Serializer):
    """A point, WGS84. Stored as the zone's ``latitude`` and ``longitude``."""

    lat = serializers.DecimalField(
        source="latitude",
        max_digits=8,
        decimal_places=5,
        min_value=Decimal(-90),
        max_value=Decimal(90),
        help_text="Latitude, WGS84.",
    )
    lng = serializers.DecimalField(
        source="longitude",
        max_digits=8,
        decimal_places=5,
        min_value=Decimal(-180),
        max_value=Decimal(180),
        help_text="Longitude, WGS84.",
    )


class GridZoneSerializer(serializers.ModelSerializer):
    coordinates = CoordinatesSerializer(source="*", read_only=True)

    class Meta:
        model = GridZone
        fields = [
            "id",
            "zone_id",
            "zone_name",
            "grid_zone_code",
            "region",
            "country",
            "coordinates",
            "carbon_intensity",
            "energy_price",
            "neso_region_id",
            "figures_updated_at",
            "gpu_capacity",
            "cpu_core_capacity",
            "memory_gb_capacity",
        ]


class GridZoneWriteSerializer(StrictInputMixin, serializers.ModelSerializer):
    """What staff send to create or change a zone."""

    coordinates = CoordinatesSerializer(source="*")
    carbon_intensity = serializers.DecimalField(
        max_digits=7,
        decimal_places=2,
        min_value=Decimal(0),
        max_value=Decimal(MAX_INTENSITY),
        help_text="Current carbon intensity, gCO2/kWh.",
    )
    energy_price = serializers.DecimalField(
        max_digits=8,
        decimal_places=4,
        min_value=Decimal(0),
        max_value=MAX_PRICE,
        help_text="Current energy price, GBP/kWh.",
    )

    class Meta:
        model = GridZone
        fields = [
            "zone_id",
            "zone_name",
            "grid_zone_code",
            "region",
            "country",
            "coordinates",
            "carbon_intensity",
            "energy_price",
            "neso_region_id",
            "gpu_capacity",
            "cpu_core_capacity",
            "memory_gb_capacity",
        ]


class GridZoneSummarySerializer(serializers.ModelSerializer):
    """A zone as other resources (workloads, recommendations) name it."""

    class Meta:
        model = GridZone
        fields = ["id", "zone_id", "zone_name", "grid_zone_code"]
