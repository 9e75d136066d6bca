"""The analytics endpoints: thin views over ``analytics.selectors``."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from analytics import selectors
from analytics.api.serializers import (
    AnalyticsExportQuerySerializer,
    AnalyticsFiguresSerializer,
    PeriodQuerySerializer,
    WorkloadAnalyticsQuerySerializer,
    WorkloadAnalyticsSerializer,
    ZoneOverbookingSerializer,
    ZoneProfileQuerySerializer,
    ZoneProfileSerializer,
    ZoneUtilisationSerializer,
)
from apikeys.models import ApiKeyScope
from pylon.api.csv import CSVDownloadNegotiation, csv_response, csv_schema_response
from pylon.api.permissions import IsOperatorOrServiceRole
from pylon.api.viewsets import ScopedAPIView
from workloads import selectors as workload_selectors
from workloads.models import ComputeWorkload
from zones import selectors as zone_selectors
from zones.models import GridZone

_RANGE = "Bad ranges are 400s naming the parameter: `to` not after `from`, or too long for the bucket."
ZONE_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The grid zone's id.")


def _query(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


class _WorkloadFiguresView(ScopedAPIView):
    # Figures over the caller's workloads; the selectors scope them through the same selector.
    model = ComputeWorkload
    required_scopes = {"get": ApiKeyScope.WORKLOADS_READ}

    def scoped_queryset(self, user):
        return workload_selectors.workload_list(fetched_by=user)


def _workload_analytics(query_serializer_class, request) -> selectors.WorkloadAnalytics:
    query = _query(query_serializer_class, request)
    return selectors.workload_analytics(fetched_by=request.user, period=query["period"], group_by=query.get("group_by"))


@extend_schema(tags=["analytics"])
class WorkloadAnalyticsView(_WorkloadFiguresView):
    @extend_schema(
        operation_id="analytics_workloads",
        summary="Workload figures per time bucket",
        description="Over the caller's workloads (a user's own, an operator's organisation), by the bucket they "
        "were submitted in, cut in `tz`. " + _RANGE,
        parameters=[WorkloadAnalyticsQuerySerializer],
        responses={200: WorkloadAnalyticsSerializer},
    )
    def get(self, request):
        result = _workload_analytics(WorkloadAnalyticsQuerySerializer, request)
        return Response(WorkloadAnalyticsSerializer(result).data)


@extend_schema(tags=["analytics"])
class WorkloadAnalyticsExportView(_WorkloadFiguresView):
    content_negotiation_class = CSVDownloadNegotiation

    @extend_schema(
        operation_id="analytics_workloads_export",
        summary="The workload figures as CSV",
        description="The rows of `analytics_workloads` for the same parameters, one line each, then a `TOTAL` line. "
        "Text cells that a spreadsheet would read as a formula are prefixed with `'`.",
        parameters=[AnalyticsExportQuerySerializer],
        responses=csv_schema_response("UTF-8 CSV with a header row."),
    )
    def get(self, request):
        result = _workload_analytics(AnalyticsExportQuerySerializer, request)
        figures = list(AnalyticsFiguresSerializer().fields)
        header = ["bucket_start", "bucket_end", "group_key", "group_label", *figures]
        rows = [[row[name] for name in header] for row in result.rows]
        rows.append(["TOTAL", "", "", "", *(result.totals[name] for name in figures)])
        period = result.period
        filename = f"pylon-analytics-{period.start:%Y%m%d}-{period.end:%Y%m%d}-{period.bucket}.csv"
        return csv_response(filename=filename, header=header, rows=rows)


@extend_schema(tags=["analytics"])
class ZoneUtilisationView(_WorkloadFiguresView):
    permission_classes = [IsOperatorOrServiceRole]

    @extend_schema(
        operation_id="analytics_zones_utilisation",
        summary="Reserved capacity per zone and bucket (operators)",
        description="GPU-, core- and memory-hours the organisation's SCHEDULED, RUNNING and COMPLETED "
        "workloads reserve inside each bucket — each window (really started, else planned, for the estimated "
        "minutes) shared among the buckets it overlaps — against each zone's capacity over the bucket. " + _RANGE,
        parameters=[PeriodQuerySerializer],
        responses={200: ZoneUtilisationSerializer},
    )
    def get(self, request):
        period = _query(PeriodQuerySerializer, request)["period"]
        results = selectors.zone_utilisation(fetched_by=request.user, period=period)
        return Response(ZoneUtilisationSerializer({"period": period, "results": results}).data)


@extend_schema(tags=["analytics"])
class ZoneOverbookingView(_WorkloadFiguresView):
    permission_classes = [IsOperatorOrServiceRole]

    @extend_schema(
        operation_id="analytics_zones_overbooked",
        summary="Half hours held over a zone's capacity (operators)",
        description="From the current half hour on, every zone's half hours where scheduled and running work "
        "holds more than the zone has (a late start, an overrun, an operator's override), per resource, with "
        "the caller's own work held there. The operators of that work are also notified once per overbooked "
        "window (`OVERBOOKED`).",
        responses={200: ZoneOverbookingSerializer},
    )
    def get(self, request):
        results = selectors.zone_overbooking(fetched_by=request.user)
        return Response(ZoneOverbookingSerializer({"results": results}).data)


@extend_schema(tags=["analytics"])
class ZoneProfileView(ScopedAPIView):
    model = GridZone
    required_scopes = {"get": ApiKeyScope.ZONES_READ}

    def scoped_queryset(self, user):
        return zone_selectors.zone_list(fetched_by=user)

    @extend_schema(
        operation_id="analytics_zones_profile",
        summary="When a zone is usually green",
        description="Mean carbon intensity by weekday × local hour over the last `weeks` weeks (a heat map), "
        "and the zone's cleanest hours of the day.",
        parameters=[ZONE_ID, ZoneProfileQuerySerializer],
        responses={200: ZoneProfileSerializer},
    )
    def get(self, request, pk):
        zone = self.get_object()
        query = _query(ZoneProfileQuerySerializer, request)
        profile = selectors.zone_profile(zone=zone, weeks=query["weeks"], tz=query["tz"])
        return Response(ZoneProfileSerializer(profile).data)
