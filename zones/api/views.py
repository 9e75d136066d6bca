from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.response import Response

from pylon.api.permissions import IsServiceRoleOrReadOnly
from pylon.api.viewsets import ScopedGenericViewSet
from zones import selectors, services
from zones.api.filtersets import GridZoneFilterSet
from zones.api.serializers import GridZoneSerializer, GridZoneWriteSerializer
from zones.models import GridZone


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
        request=GridZoneWriteSerializer,
        responses={200: GridZoneSerializer},
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

    def scoped_queryset(self, user):
        return selectors.zone_list(fetched_by=user)

    def create(self, request):
        serializer = GridZoneWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        zone = services.zone_create(**serializer.validated_data)
        return Response(GridZoneSerializer(zone).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        zone = self.get_object()
        serializer = GridZoneWriteSerializer(zone, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        zone = services.zone_update(zone=zone, data=serializer.validated_data)
        return Response(GridZoneSerializer(zone).data)
