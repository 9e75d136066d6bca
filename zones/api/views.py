from types import SimpleNamespace

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apikeys.models import ApiKeyScope
from pylon.api.permissions import IsServiceRoleOrReadOnly
from pylon.api.schema import error_response
from pylon.api.viewsets import ScopedGenericViewSet
from workloads import selectors as workload_selectors
from zones import selectors, services
from zones.api.filtersets import GridZoneFilterSet
from zones.api.serializers import (
    TIME_RANGE_TEXT,
    GridZoneSerializer,
    GridZoneWriteSerializer,
    IntensityRangeQuerySerializer,
    IntensitySnapshotQuerySerializer,
    ZoneIntensitySeriesSerializer,
    ZoneIntensitySnapshotSerializer,
    ZoneMapSerializer,
)
from zones.models import GridZone
from zones.providers.base import HALF_HOUR

#: What the snapshot serialises for a zone no source covers: every reading field null.
NO_READING = SimpleNamespace(intensity=None, forecast=None, actual=None, index=None, source=None, fetched_at=None)
#: The map returns at most this many zones (GeoJSON has no pagination); ``truncated`` says when more exist.
MAX_MAP_ZONES = 1000

_TIME_FORMAT = f"ISO 8601, e.g. `2026-03-15T20:00Z`; without an offset the time is UTC. {TIME_RANGE_TEXT}"
FROM_PARAMETER = OpenApiParameter(
    "from",
    OpenApiTypes.DATETIME,
    description=f"Start of the range, inclusive (its half hour counts). {_TIME_FORMAT} Default: 24 hours ago.",
)
TO_PARAMETER = OpenApiParameter(
    "to",
    OpenApiTypes.DATETIME,
    description=f"End of the range, exclusive; after `from`, at most 31 days later. {_TIME_FORMAT} "
    "Default: 48 hours ahead.",
)
AT_PARAMETER = OpenApiParameter(
    "at", OpenApiTypes.DATETIME, description=f"Any time in the half hour wanted. {_TIME_FORMAT} Default: now."
)


@extend_schema_view(
    list=extend_schema(operation_id="zones_list", summary="List grid zones"),
    retrieve=extend_schema(operation_id="zones_retrieve", summary="One grid zone"),
    create=extend_schema(
        operation_id="zones_create",
        summary="Create a grid zone (staff)",
        request=GridZoneWriteSerializer,
        responses={201: GridZoneSerializer},
    ),
    partial_update=extend_schema(
        operation_id="zones_partial_update",
        summary="Change a grid zone (staff)",
        description="A capacity (`gpu_capacity`, `cpu_core_capacity`, `memory_gb_capacity`) cannot be lowered "
        "below what scheduled and running work holds in the zone from the current half hour on.",
        request=GridZoneWriteSerializer,
        responses={
            200: GridZoneSerializer,
            409: error_response(
                "`capacity_exceeded`: the lowered capacity is below what is held; `fields.<capacity field>` names "
                "the half hours, the most held and the workloads (job ids) holding it."
            ),
        },
    ),
)
@extend_schema(tags=["zones"])
class GridZoneViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ScopedGenericViewSet,
):
    model = GridZone
    serializer_class = GridZoneSerializer
    permission_classes = [IsServiceRoleOrReadOnly]
    filterset_class = GridZoneFilterSet
    search_fields = ["zone_name", "grid_zone_code"]
    ordering_fields = ["carbon_intensity", "energy_price", "zone_name", "grid_zone_code"]
    ordering = ["zone_name"]
    http_method_names = ["get", "post", "patch", "head", "options"]
    # Keys read zones; changing them is the service role's, signed in as a person.
    required_scopes = dict.fromkeys(
        ["list", "retrieve", "intensity_series", "intensity_snapshot", "map"], ApiKeyScope.ZONES_READ
    )

    def scoped_queryset(self, user):
        return selectors.zone_list(fetched_by=user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(
        operation_id="zones_intensity_retrieve",
        summary="A zone's half-hourly carbon intensity and price",
        description=(
            "The zone's half hours starting in `[from, to)` that some source covers, in time order: the "
            "actual intensity where known, else the forecast. Where several sources cover a half hour, a "
            "reading with an actual wins, then the most recently fetched. At most 31 days per request."
        ),
        parameters=[FROM_PARAMETER, TO_PARAMETER],
        responses={
            200: ZoneIntensitySeriesSerializer,
            400: error_response("`from` or `to` is not a time, or the range is empty or longer than 31 days."),
        },
    )
    @action(detail=True, methods=["get"], url_path="intensity", filter_backends=[], pagination_class=None)
    def intensity_series(self, request, pk=None):
        zone = self.get_object()
        query = IntensityRangeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = selectors.series_range(start=query.validated_data.get("from"), end=query.validated_data.get("to"))
        body = {
            "zone": zone,
            "start": start,
            "end": end,
            "is_stale": selectors.zone_is_stale(zone=zone),
            "results": selectors.zone_intensity_series(zone=zone, start=start, end=end),
        }
        return Response(ZoneIntensitySeriesSerializer(body).data)

    @extend_schema(
        operation_id="zones_intensity_snapshot",
        summary="Every zone's carbon intensity for one half hour",
        description="For the carbon map: each zone's figures for the half hour containing `at` (paginated).",
        parameters=[AT_PARAMETER],
        responses={200: ZoneIntensitySnapshotSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], url_path="intensity", filter_backends=[])
    def intensity_snapshot(self, request):
        query = IntensitySnapshotQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        at = query.validated_data.get("at") or timezone.now()
        page = self.paginate_queryset(self.get_queryset().order_by("zone_name", "id"))
        now = timezone.now()
        rows = [
            {
                "zone": snap.zone,
                "period_start": snap.period_start,
                "period_end": snap.period_start + HALF_HOUR,
                "reading": snap.reading or NO_READING,
                "energy_price": snap.energy_price,
                "price_is_flat": snap.price_is_flat,
                "index": snap.index,
                "is_stale": selectors.zone_is_stale(zone=snap.zone, now=now),
            }
            for snap in selectors.intensity_snapshot(zones=page, at=at)
        ]
        return self.get_paginated_response(ZoneIntensitySnapshotSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="zones_map",
        summary="The zones as a GeoJSON FeatureCollection",
        description=(
            "One Point feature per zone (`[longitude, latitude]`, RFC 7946) with its current intensity, "
            "index band, price and staleness, and the caller's workload figures there: an operator's "
            "organisation's, a user's own (never another user's), everyone's for the service role. "
            f"At most {MAX_MAP_ZONES} zones; `truncated` says when there are more."
        ),
        responses={200: ZoneMapSerializer},
    )
    @action(detail=False, methods=["get"], url_path="map", filter_backends=[], pagination_class=None)
    def map(self, request):
        zones = list(self.get_queryset().order_by("zone_name", "id")[: MAX_MAP_ZONES + 1])
        truncated = len(zones) > MAX_MAP_ZONES
        zones = zones[:MAX_MAP_ZONES]
        figures = workload_selectors.workload_zone_figures(fetched_by=request.user, zone_ids=[z.pk for z in zones])
        features = selectors.zone_map(zones=zones, workload_figures=figures)
        return Response(ZoneMapSerializer({"features": features, "truncated": truncated}).data)

    def create(self, request):
        serializer = GridZoneWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        zone = services.zone_create(**serializer.validated_data)
        return Response(GridZoneSerializer(self.written(zone)).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        zone = self.get_object()
        serializer = GridZoneWriteSerializer(zone, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        zone = services.zone_update(zone=zone, data=serializer.validated_data)
        return Response(GridZoneSerializer(self.written(zone)).data)
