import re
from datetime import UTC, datetime
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pylon.api.serializers import StrictInputMixin
from zones import selectors, services
from zones.models import MAX_INTENSITY, MAX_PRICE, CarbonSource, GridZone, IntensityIndex


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
    carbon_index = serializers.SerializerMethodField(
        help_text="NESO index band of the current intensity (GB zones only; null elsewhere)."
    )
    is_stale = serializers.SerializerMethodField(
        help_text="True when the figures are older than the configured age (`CARBON_DATA_STALE_AFTER_MINUTES`)."
    )

    @extend_schema_field(serializers.ChoiceField(choices=IntensityIndex.choices, allow_null=True))
    def get_carbon_index(self, zone) -> str | None:
        return selectors.zone_current_index(zone=zone)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_is_stale(self, zone) -> bool:
        return selectors.zone_is_stale(zone=zone, now=self.context.get("now"))

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
            "carbon_index",
            "energy_price",
            "neso_region_id",
            "carbon_provider",
            "provider_zone_key",
            "figures_updated_at",
            "is_stale",
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
        # What the service lets staff write, with the point as one `coordinates` object.
        fields = [
            "coordinates" if name == "latitude" else name
            for name in services.ZONE_WRITABLE_FIELDS
            if name != "longitude"
        ]


class GridZoneSummarySerializer(serializers.ModelSerializer):
    """A zone as other resources (workloads, recommendations) name it."""

    class Meta:
        model = GridZone
        fields = ["id", "zone_id", "zone_name", "grid_zone_code"]


# -- carbon-intensity series ------------------------------------------------------------------------

#: Query times must fall in this window: anything else is a typo, and far dates overflow arithmetic.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)
#: The window in words, for error messages and the schema (OpenAPI has no bounds for a date-time).
TIME_RANGE_TEXT = f"Between {EARLIEST_TIME:%Y-%m-%d} (inclusive) and {LATEST_TIME:%Y-%m-%d} (exclusive)."
_OFFSET_DECODED_AS_SPACE = re.compile(r" (\d{2}:?\d{2})$")


class UtcDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time as an aware UTC datetime. Without an offset it is read as UTC. A ``+hh:mm``
    offset whose ``+`` arrived as a space (an unencoded query string) is accepted too."""

    def __init__(self, **kwargs):
        kwargs["help_text"] = f"{kwargs['help_text']} {TIME_RANGE_TEXT}" if kwargs.get("help_text") else TIME_RANGE_TEXT
        super().__init__(default_timezone=UTC, **kwargs)

    def get_value(self, dictionary):
        # DRF reads an empty query parameter as an absent one; ``?at=`` is a 400 like ``?at=soon``.
        if self.field_name in dictionary and dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)

    def to_internal_value(self, value):
        if value == "":
            raise serializers.ValidationError("Give a time, or leave the parameter out.", code="blank")
        if isinstance(value, str):
            value = _OFFSET_DECODED_AS_SPACE.sub(r"+\1", value.strip())
        result = super().to_internal_value(value).astimezone(UTC)
        if not EARLIEST_TIME <= result < LATEST_TIME:
            raise serializers.ValidationError(f"Out of range. {TIME_RANGE_TEXT}", code="out_of_range")
        return result


class IntensityRangeQuerySerializer(serializers.Serializer):
    """``?from=&to=`` of a series: ISO 8601 times, ``from`` before ``to``, at most 31 days apart."""

    def get_fields(self):
        # "from" is a Python keyword, so the fields are declared here rather than as attributes.
        return {
            "from": UtcDateTimeField(required=False, help_text="Start (inclusive). Default: 24 hours ago."),
            "to": UtcDateTimeField(required=False, help_text="End (exclusive). Default: 48 hours ahead."),
        }

    def validate(self, attrs):
        start, end = attrs.get("from"), attrs.get("to")
        if start is not None and end is not None:
            if start >= end:
                raise serializers.ValidationError({"to": ["Must be after `from`."]}, code="invalid")
            if end - start > selectors.MAX_SERIES_RANGE:
                raise serializers.ValidationError(
                    {"to": [f"The range may span at most {selectors.MAX_SERIES_RANGE.days} days."]}, code="max_range"
                )
        return attrs


class IntensitySnapshotQuerySerializer(serializers.Serializer):
    at = UtcDateTimeField(required=False, help_text="Any time in the half hour wanted. Default: now.")


BAND_HELP = "NESO index band of `carbon_intensity`, with the boundaries of that half hour's year (GB zones only)."


class IntensityPointSerializer(serializers.Serializer):
    """One half hour of a zone: its resolved carbon intensity and its price."""

    period_start = serializers.DateTimeField(source="reading.period_start", help_text="Start of the half hour, UTC.")
    period_end = serializers.DateTimeField(source="reading.period_end", help_text="End of the half hour, UTC.")
    carbon_intensity = serializers.FloatField(
        source="reading.intensity", help_text="gCO2/kWh: the actual when known, else the forecast."
    )
    forecast = serializers.FloatField(source="reading.forecast", allow_null=True, help_text="Forecast, gCO2/kWh.")
    actual = serializers.FloatField(
        source="reading.actual", allow_null=True, help_text="Measured or estimated, gCO2/kWh; null until known."
    )
    index = serializers.ChoiceField(
        choices=IntensityIndex.choices,
        allow_null=True,
        help_text=BAND_HELP,
    )
    generation_mix = serializers.DictField(
        source="reading.generation_mix",
        child=serializers.FloatField(),
        allow_null=True,
        help_text="Generation mix, fuel → percent, when the source gives it.",
    )
    source = serializers.ChoiceField(
        source="reading.source", choices=CarbonSource.choices, help_text="Where the reading comes from."
    )
    fetched_at = serializers.DateTimeField(source="reading.fetched_at", help_text="When it was fetched or imported.")
    energy_price = serializers.DecimalField(
        max_digits=8, decimal_places=4, help_text="GBP/kWh: the half hour's price, else the zone's flat price."
    )
    price_is_flat = serializers.BooleanField(help_text="True when no price reading covers the half hour.")


class ZoneIntensitySeriesSerializer(serializers.Serializer):
    """A zone's half-hourly series over a range (only the half hours some source covers)."""

    zone = GridZoneSummarySerializer()
    start = serializers.DateTimeField(help_text="Start of the range (aligned to the half hour).")
    end = serializers.DateTimeField(help_text="End of the range (exclusive).")
    is_stale = serializers.BooleanField(help_text="True when the zone's current figures are out of date.")
    results = IntensityPointSerializer(many=True)


class ZoneIntensitySnapshotSerializer(serializers.Serializer):
    """One zone's figures for one half hour; the intensity fields are null when no source covers it."""

    zone = GridZoneSummarySerializer()
    period_start = serializers.DateTimeField(help_text="Start of the half hour, UTC.")
    period_end = serializers.DateTimeField(help_text="End of the half hour, UTC.")
    carbon_intensity = serializers.FloatField(
        source="reading.intensity",
        allow_null=True,
        help_text="gCO2/kWh: the actual when known, else the forecast; null if unknown.",
    )
    forecast = serializers.FloatField(source="reading.forecast", allow_null=True)
    actual = serializers.FloatField(source="reading.actual", allow_null=True)
    index = serializers.ChoiceField(
        choices=IntensityIndex.choices,
        allow_null=True,
        help_text=BAND_HELP,
    )
    source = serializers.ChoiceField(source="reading.source", choices=CarbonSource.choices, allow_null=True)
    fetched_at = serializers.DateTimeField(source="reading.fetched_at", allow_null=True)
    energy_price = serializers.DecimalField(
        max_digits=8, decimal_places=4, help_text="GBP/kWh: the half hour's price, else the zone's flat price."
    )
    price_is_flat = serializers.BooleanField(help_text="True when no price reading covers the half hour.")
    is_stale = serializers.BooleanField(help_text="True when the zone's current figures are out of date.")


# -- the map (GeoJSON, RFC 7946) --------------------------------------------------------------------


def _literal(value: str, description: str):
    """A string field that is always ``value``, documented as a one-value enum (inline, no component)."""

    @extend_schema_field({"type": "string", "enum": [value], "description": description})
    class Literal(serializers.Field):
        def __init__(self, **kwargs):
            super().__init__(read_only=True, source="*", **kwargs)

        def to_representation(self, instance):
            return value

    return Literal()


class ZoneWorkloadFiguresSerializer(serializers.Serializer):
    """The caller's workloads chosen for a zone: an operator's organisation's, a user's own."""

    running_count = serializers.IntegerField(help_text="Workloads RUNNING there now.")
    total_count = serializers.IntegerField(help_text="All workloads placed there.")
    total_energy_kwh = serializers.FloatField(help_text="Their energy, kWh (measured, else estimated).")
    average_carbon_kg = serializers.FloatField(
        allow_null=True, help_text="Mean emissions per workload that has them, kg CO2; null if none has."
    )


class ZoneMapPropertiesSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="zone.id")
    zone_id = serializers.CharField(source="zone.zone_id")
    zone_name = serializers.CharField(source="zone.zone_name")
    grid_zone_code = serializers.CharField(source="zone.grid_zone_code")
    region = serializers.CharField(source="zone.region")
    country = serializers.CharField(source="zone.country")
    carbon_provider = serializers.ChoiceField(source="zone.carbon_provider", choices=CarbonSource.choices)
    carbon_intensity = serializers.DecimalField(
        source="zone.carbon_intensity", max_digits=7, decimal_places=2, help_text="Current intensity, gCO2/kWh."
    )
    carbon_index = serializers.ChoiceField(
        source="index", choices=IntensityIndex.choices, allow_null=True, help_text="NESO band (GB zones only)."
    )
    energy_price = serializers.DecimalField(
        source="zone.energy_price", max_digits=8, decimal_places=4, help_text="Current price, GBP/kWh."
    )
    figures_updated_at = serializers.DateTimeField(source="zone.figures_updated_at", allow_null=True)
    is_stale = serializers.BooleanField(help_text="True when the figures are out of date.")
    workloads = ZoneWorkloadFiguresSerializer(help_text="The caller's workload figures here (zeros when none).")


class PointGeometrySerializer(serializers.Serializer):
    type = _literal("Point", "GeoJSON geometry type.")
    coordinates = serializers.SerializerMethodField(help_text="[longitude, latitude], WGS84 (RFC 7946).")

    @extend_schema_field(
        {"type": "array", "items": {"type": "number", "format": "double"}, "minItems": 2, "maxItems": 2}
    )
    def get_coordinates(self, item) -> list[float]:
        return [float(item.zone.longitude), float(item.zone.latitude)]


class ZoneMapFeatureSerializer(serializers.Serializer):
    type = _literal("Feature", "GeoJSON object type.")
    id = serializers.UUIDField(source="zone.id", help_text="The zone's id.")
    geometry = PointGeometrySerializer(source="*")
    properties = ZoneMapPropertiesSerializer(source="*")


class ZoneMapSerializer(serializers.Serializer):
    """A GeoJSON FeatureCollection (RFC 7946) of the zones, one Point feature each."""

    type = _literal("FeatureCollection", "GeoJSON object type.")
    features = ZoneMapFeatureSerializer(many=True)
    truncated = serializers.BooleanField(help_text="True when more zones exist than the map returns (1,000).")
