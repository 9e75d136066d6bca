from django.conf import settings
from django.http import Http404
from django.utils import timezone
from django_filters.utils import translate_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from apikeys.models import ApiKeyScope
from pylon.api.csv import (
    UNKNOWN_FORMAT,
    CSVDownloadNegotiation,
    CSVFormatQuerySerializer,
    csv_response,
    csv_schema_response,
)
from pylon.api.filters import UPDATED_SINCE_HELP, FilterBackend, SafeSearchFilter
from pylon.api.pagination import CompiledScope, list_source
from pylon.api.schema import error_response
from pylon.api.viewsets import ScopedAPIView, ScopedGenericViewSet
from scheduling import services as scheduling_services
from workloads import batch, selectors, services
from workloads.api import batch_input, exports
from workloads.api.filtersets import WorkloadEventFilterSet, WorkloadFilterSet
from workloads.api.serializers import (
    WORKLOAD_EVENT_COLUMNS,
    WORKLOAD_LIST_COLUMNS,
    AssignSerializer,
    BatchUploadFileSerializer,
    BatchUploadQuerySerializer,
    BatchUploadResultSerializer,
    BatchWorkloadRowSerializer,
    CompleteSerializer,
    ComputeWorkloadSerializer,
    NoteSerializer,
    StartSerializer,
    WorkloadEventSerializer,
    WorkloadInputSerializer,
    WorkloadStatsSerializer,
    workload_event_representation,
    workload_list_representation,
)
from workloads.models import ComputeWorkload, WorkloadEvent
from zones import selectors as zone_selectors
from zones.models import GridZone

CONFLICT = error_response(
    "The workload's status does not allow this (`invalid_transition`, `not_editable`), or another request "
    "changed it at the same moment (`concurrent_update`), or (assign, start) the zone cannot hold the workload for "
    "its whole run (`capacity_exceeded`: the message and `fields.zone` name the half hours and resources short)."
)


def _action_schema(operation_id: str, summary: str, request, description: str = ""):
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        description=description,
        request=request,
        responses={200: ComputeWorkloadSerializer, 409: CONFLICT},
    )


@extend_schema(tags=["workloads"])
@extend_schema_view(
    list=extend_schema(
        operation_id="workloads_list",
        summary="List workloads",
        description="A user sees their own workloads, an operator every workload of their organisation.",
    ),
    retrieve=extend_schema(operation_id="workloads_retrieve", summary="One workload"),
    create=extend_schema(
        operation_id="workloads_create",
        summary="Submit a workload",
        description="The owner and organisation are the caller's. System fields are refused with a 400.",
        request=WorkloadInputSerializer,
        responses={201: ComputeWorkloadSerializer},
    ),
    partial_update=extend_schema(
        operation_id="workloads_partial_update",
        summary="Change a PENDING workload (owner)",
        description="Only user-owned fields, and only while PENDING: a later status answers 409 `not_editable`.",
        request=WorkloadInputSerializer,
        responses={200: ComputeWorkloadSerializer, 409: CONFLICT},
    ),
)
class WorkloadViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedGenericViewSet):
    # The list writes plain rows (``workload_list_representation``); the rest goes through the serializers.
    cursor_paginated = True

    model = ComputeWorkload
    serializer_class = ComputeWorkloadSerializer
    filter_backends = [FilterBackend, SafeSearchFilter]
    filterset_class = WorkloadFilterSet
    search_fields = ["workload_name", "job_id"]
    http_method_names = ["get", "post", "patch", "head", "options"]
    required_scopes = {
        **dict.fromkeys(["list", "retrieve", "events", "stats", "export"], ApiKeyScope.WORKLOADS_READ),
        **dict.fromkeys(["create", "partial_update", "cancel"], ApiKeyScope.WORKLOADS_WRITE),
        **dict.fromkeys(["assign", "start", "complete", "fail"], ApiKeyScope.WORKLOADS_OPERATE),
    }
    # A key cancels what it submitted with `write`; anyone else's workload takes `operate`.
    foreign_row_scopes = {"cancel": ApiKeyScope.WORKLOADS_OPERATE}

    def scoped_queryset(self, user):
        return selectors.workload_list(fetched_by=user)

    def list(self, request):
        self.paginator.columns = WORKLOAD_LIST_COLUMNS
        scope = selectors.workload_scope(fetched_by=request.user)
        rows = self.paginate_queryset(list_source(self, name="workloads", scope=scope))
        return self.get_paginated_response(workload_list_representation(rows))

    def create(self, request):
        serializer = WorkloadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        workload = services.workload_create(user=request.user, data=serializer.validated_data)
        return Response(self._out(workload), status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        workload = self.get_object()
        serializer = WorkloadInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        workload = services.workload_update(workload=workload, actor=request.user, data=serializer.validated_data)
        return Response(self._out(workload))

    @_action_schema(
        "workloads_cancel",
        "Cancel a workload",
        NoteSerializer,
        "The owner while PENDING or SCHEDULED; operators of the organisation while unfinished.",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        workload = self.get_object()
        note = self._valid(NoteSerializer)["note"]
        workload = services.workload_cancel(workload=workload, actor=request.user, note=note)
        return Response(self._out(workload))

    @_action_schema(
        "workloads_assign",
        "Assign a zone and start time (operators)",
        AssignSerializer,
        "PENDING → SCHEDULED, with a recommendation `rank` or an override `zone` (+ `start`) and `reason`. "
        "With `reassign: true`, moves a SCHEDULED workload. Of two operators assigning at once exactly one "
        "wins; the other gets 409. A zone that cannot hold the workload for its whole run answers 409 "
        "`capacity_exceeded` naming the half hours and resources short, unless `override_capacity` is set "
        "(with a `reason`).",
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        workload = self.get_object()
        data = self._valid(AssignSerializer)
        workload = scheduling_services.assignment_create(
            workload=workload,
            actor=request.user,
            rank=data.get("rank"),
            zone=data.get("zone"),
            start=data.get("start"),
            note=data["reason"],
            reassign=data["reassign"],
            override_capacity=data["override_capacity"],
        )
        return Response(self._out(workload))

    @_action_schema(
        "workloads_start",
        "Start a scheduled workload (operators)",
        StartSerializer,
        "SCHEDULED → RUNNING now. The run holds the zone from now for its estimated duration: a start away "
        "from the planned one that the zone cannot hold answers 409 `capacity_exceeded` naming the half "
        "hours and resources short, unless `override_capacity` is set (with a `note`).",
    )
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        workload = self.get_object()
        data = self._valid(StartSerializer)
        workload = services.workload_start(
            workload=workload, actor=request.user, note=data["note"], override_capacity=data["override_capacity"]
        )
        return Response(self._out(workload))

    @_action_schema(
        "workloads_complete",
        "Complete a running workload (operators)",
        CompleteSerializer,
        "Records the end and computes `carbon_emitted_kg`, `cost_gbp` and the host-zone baseline from the "
        "zones' intensity and price over the run.",
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        workload = self.get_object()
        data = self._valid(CompleteSerializer)
        workload = services.workload_complete(
            workload=workload,
            actor=request.user,
            measured_energy_kwh=data.get("measured_energy_kwh"),
            note=data["note"],
        )
        return Response(self._out(workload))

    @_action_schema("workloads_fail", "Mark a workload failed (operators)", NoteSerializer)
    @action(detail=True, methods=["post"])
    def fail(self, request, pk=None):
        workload = self.get_object()
        note = self._valid(NoteSerializer)["note"]
        return Response(self._out(services.workload_fail(workload=workload, actor=request.user, note=note)))

    @extend_schema(
        operation_id="workloads_events_list",
        summary="A workload's timeline",
        parameters=[
            OpenApiParameter("updated_since", OpenApiTypes.DATETIME, description=UPDATED_SINCE_HELP),
        ],
        responses={200: WorkloadEventSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def events(self, request, pk=None):
        workload = self.get_object()
        self.paginator.columns = WORKLOAD_EVENT_COLUMNS
        if self.paginator.names_only_pages(request):
            # A bare page of the timeline: the selector's SQL, compiled once and prepared.
            source = CompiledScope(
                model=WorkloadEvent,
                shape=("workload events",),
                params=[workload.pk],
                queryset=lambda: selectors.workload_events(workload=workload),
            )
        else:
            # Filtered here, not by a filter backend: that would filter the workload's own lookup too.
            filterset = WorkloadEventFilterSet(
                request.query_params, queryset=selectors.workload_events(workload=workload)
            )
            if not filterset.is_valid():
                raise translate_validation(filterset.errors)
            source = filterset.qs
        rows = self.paginate_queryset(source)
        return self.get_paginated_response(workload_event_representation(rows))

    @extend_schema(
        operation_id="workloads_stats",
        summary="Dashboard figures",
        description="Over the caller's workloads (a user's own, an operator's organisation). An operator also "
        "gets `members` (each member of the organisation: workloads, emissions, carbon saved) and `queue` "
        "(PENDING workloads: length and the oldest one's wait); for others both are null.",
        responses={200: WorkloadStatsSerializer},
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def stats(self, request):
        return Response(WorkloadStatsSerializer(selectors.workload_stats(fetched_by=request.user)).data)

    @extend_schema(
        operation_id="workloads_export",
        summary="Download the caller's workloads as CSV",
        description=(
            "The workloads the caller sees (a user's own, an operator's organisation's), with the list's filters, "
            "search and ordering, one row per workload with its accounting: UTF-8, comma-separated, a header "
            "row, RFC 4180 quoting, times in ISO 8601 UTC, zones by grid zone code, empty cells for unknown "
            "figures. `carbon_saved_kg` and `cost_saved_gbp` are baseline − actual. Streamed from the database in "
            "chunks, so any number of rows downloads in constant server memory. Text that a spreadsheet would "
            "read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is written with a "
            "leading `'`. Errors are JSON (`Error`)."
        ),
        filters=True,
        parameters=[
            OpenApiParameter(
                "format", str, enum=["csv"], description="The file format; only `csv` is offered (the default)."
            )
        ],
        responses=csv_schema_response("The CSV file (`Content-Disposition: attachment`)."),
    )
    @action(detail=False, methods=["get"], pagination_class=None, content_negotiation_class=CSVDownloadNegotiation)
    def export(self, request):
        CSVFormatQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
        workloads = self.filter_queryset(self.get_queryset())
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return csv_response(
            filename=f"workloads-{stamp}.csv", header=exports.HEADER, rows=exports.workload_export_rows(workloads)
        )

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            # DRF answers an unknown ?format= with a bare 404; say which parameter is wrong instead.
            raise ValidationError({"format": [UNKNOWN_FORMAT]}) from None

    def _valid(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _out(self, workload: ComputeWorkload) -> dict:
        """The written workload as the caller's scope shows it (the base class's re-read)."""
        return ComputeWorkloadSerializer(self.written(workload)).data


@extend_schema(tags=["workloads"])
class WorkloadBatchView(ScopedAPIView):
    # Many workloads in one request. Thin: reading the upload is batch_input's, the rules the submit
    # form's and workloads.batch's.
    model = ComputeWorkload
    serializer_class = BatchUploadResultSerializer
    required_scopes = {"post": ApiKeyScope.WORKLOADS_WRITE}
    parser_classes = [batch_input.BatchJSONParser, batch_input.CSVParser, MultiPartParser]

    def scoped_queryset(self, user):
        return selectors.workload_list(fetched_by=user)

    @extend_schema(
        operation_id="workloads_batch_create",
        summary="Submit many workloads at once",
        description=(
            "A JSON array of submit forms, or a CSV file (a `text/csv` body, or the multipart field `file`) whose "
            "header uses the submit form's field names; zones by id or `grid_zone_code`. At most "
            f"{settings.BATCH_UPLOAD_MAX_ROWS} rows and {settings.BATCH_UPLOAD_MAX_BYTES} bytes. Every row gets "
            "the checks of a single submit and every problem is reported. With `mode=all_or_nothing` (default) "
            "one bad row saves nothing: a 400 whose `fields` are `rows.<row>.<field>`. With `mode=partial` the "
            "valid rows are saved and the others listed in `errors`. `dry_run=true` checks and saves nothing. "
            "A file that cannot be read as a table (encoding, quoting, ragged rows, unknown or duplicate columns, "
            "no rows, too many) is a 400 naming `file`."
        ),
        parameters=[BatchUploadQuerySerializer],
        request={
            "application/json": BatchWorkloadRowSerializer(many=True),
            "text/csv": OpenApiTypes.STR,
            "multipart/form-data": BatchUploadFileSerializer,
        },
        responses={
            201: OpenApiResponse(BatchUploadResultSerializer, description="Some or all rows were saved."),
            200: OpenApiResponse(BatchUploadResultSerializer, description="A dry run, or no row was valid."),
        },
    )
    def post(self, request):
        options = BatchUploadQuerySerializer(data=request.query_params)
        options.is_valid(raise_exception=True)
        rows = batch_input.batch_rows(request)
        valid, errors = batch_input.check_rows(rows, user=request.user)
        result = batch.workload_batch_create(
            user=request.user, rows=valid, input_errors=errors, received=len(rows), **options.validated_data
        )
        created = [workload.pk for _, workload in result.created]
        # NetBox's check, for many rows at once: what was written must be in the writer's scope, else
        # ATOMIC_REQUESTS rolls it back.
        if created and self.get_queryset().filter(pk__in=created).count() != len(created):
            raise PermissionDenied("The batch would leave workloads outside what you may see.")
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(BatchUploadResultSerializer(result).data, status=code)


@extend_schema(tags=["workloads"])
class WorkloadBatchTemplateView(ScopedAPIView):
    # Its example row names a zone the caller sees.
    model = GridZone
    content_negotiation_class = CSVDownloadNegotiation
    required_scopes = {"get": ApiKeyScope.WORKLOADS_READ}

    def scoped_queryset(self, user):
        return zone_selectors.zone_list(fetched_by=user)

    @extend_schema(
        operation_id="workloads_batch_template",
        summary="A CSV template for batch upload",
        description="The header (the submit form's field names) and one example row.",
        responses=csv_schema_response("UTF-8 CSV: a header row and an example row."),
    )
    def get(self, request):
        example = batch_input.template_row(zone=self.get_queryset().order_by("zone_name").first())
        return csv_response(filename="pylon-batch-template.csv", header=list(example), rows=[list(example.values())])
