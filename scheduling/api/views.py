import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts import selectors as account_selectors
from accounts.models import Organization
from apikeys.models import ApiKeyScope
from pylon.api.pagination import list_source
from pylon.api.permissions import IsOperatorOrServiceRole
from pylon.api.schema import error_response
from pylon.api.viewsets import ScopedAPIView, ScopedGenericViewSet
from scheduling import selectors, services
from scheduling.api.serializers import (
    QUEUE_COLUMNS,
    QUEUE_OPTION_COLUMNS,
    QUEUE_OUTCOME_COLUMNS,
    QueueEntrySerializer,
    SchedulingPolicyInputSerializer,
    SchedulingPolicySerializer,
    SchedulingPreviewSerializer,
    WorkloadRecommendationsSerializer,
    queue_representation,
)
from workloads import selectors as workload_selectors
from workloads.api.serializers import WorkloadInputSerializer
from workloads.models import ComputeWorkload


# A workload's sub-resource: it belongs with the workload operations in generated clients.
@extend_schema(tags=["workloads"])
class WorkloadRecommendationsView(ScopedAPIView):
    model = ComputeWorkload
    required_scopes = {"get": ApiKeyScope.WORKLOADS_READ}

    def scoped_queryset(self, user):
        return workload_selectors.workload_list(fetched_by=user)

    @extend_schema(
        operation_id="workloads_recommendations_retrieve",
        summary="A workload's ranked options",
        description=(
            "The owner and the operators of its organisation see them (anyone else gets 404). Up to three options "
            "in distinct zones, best first, with the expected emissions, cost and saving against running at once in "
            "the host zone, on the forecast named by `forecast_fetched_at`. `outcome` says when they were computed, "
            "with which policy, and, when nothing is feasible, which constraint binds and why."
        ),
        responses={200: WorkloadRecommendationsSerializer},
    )
    def get(self, request, pk):
        workload = self.get_object()
        body = {
            "workload": workload,
            "outcome": selectors.outcome_get(workload=workload),
            "options": list(selectors.recommendation_list(workload=workload)),
        }
        return Response(WorkloadRecommendationsSerializer(body).data)


@extend_schema(tags=["scheduling"])
@extend_schema_view(
    list=extend_schema(
        operation_id="scheduling_queue_list",
        summary="The scheduling queue (operators)",
        description=(
            "The PENDING workloads of the operator's organisation, most urgent first (CRITICAL first, then the "
            "nearest deadline, then the oldest), each with its ranked options and the last computation's outcome."
        ),
    )
)
class SchedulingQueueViewSet(mixins.ListModelMixin, ScopedGenericViewSet):
    # The list writes plain rows (``queue_representation``); ``QueueEntrySerializer`` is its schema.
    cursor_paginated = True

    model = ComputeWorkload
    serializer_class = QueueEntrySerializer
    permission_classes = [IsOperatorOrServiceRole]
    filter_backends: list = []
    required_scopes = {"list": ApiKeyScope.WORKLOADS_READ}

    def scoped_queryset(self, user):
        return selectors.queue_list(fetched_by=user)

    def list(self, request):
        self.paginator.columns = QUEUE_COLUMNS
        scope = selectors.queue_scope(fetched_by=request.user)
        rows = self.paginate_queryset(list_source(self, name="queue", scope=scope))
        ids = [row["id"] for row in rows]
        options = selectors.queue_options(workload_ids=ids, columns=QUEUE_OPTION_COLUMNS)
        outcomes = selectors.queue_outcomes(workload_ids=ids, columns=QUEUE_OUTCOME_COLUMNS)
        return self.get_paginated_response(queue_representation(rows, options, outcomes))


ORGANIZATION_PARAMETER = OpenApiParameter(
    "organization",
    OpenApiTypes.UUID,
    description="Which organisation: required for the service role; others may only name their own.",
)


NO_ORGANIZATION = error_response("`?organization=` names an organisation that is not the caller's (`not_found`).")


@extend_schema(tags=["scheduling"], parameters=[ORGANIZATION_PARAMETER])
class SchedulingPolicyView(ScopedAPIView):
    """The caller's organisation's policy. Members read it; its operators change it. The service role
    has no organisation of its own and names one with ``?organization=``."""

    # Scoped by the organisation: one the caller may not act in is a 404.
    model = Organization
    # Keys read the policy; changing it is a person's (an operator's) decision.
    required_scopes = {"get": ApiKeyScope.WORKLOADS_READ}

    def scoped_queryset(self, user):
        return account_selectors.organization_list(fetched_by=user)

    def object_lookup(self):
        raw = self.request.query_params.get("organization")
        user = self.request.user
        if raw is None:
            if user.organization_id is None:
                raise ValidationError({"organization": ["Name the organisation: ?organization=<id>."]})
            return {"pk": user.organization_id}
        try:
            return {"pk": uuid.UUID(raw)}
        except ValueError:
            raise ValidationError({"organization": ["Send an organisation id (UUID)."]})

    def _organization_id(self, request):
        return self.get_object().pk

    @extend_schema(
        operation_id="scheduling_policy_retrieve",
        summary="The organisation's scheduling policy",
        responses={200: SchedulingPolicySerializer, 404: NO_ORGANIZATION},
    )
    def get(self, request):
        policy = selectors.policy_get(organization_id=self._organization_id(request))
        return Response(SchedulingPolicySerializer(policy).data)

    @extend_schema(
        operation_id="scheduling_policy_update",
        summary="Set the organisation's scheduling policy (operators)",
        description=(
            "Presets set their own weights (CARBON_FIRST 1/0/0, BALANCED 0.4/0.4/0.2, COST_FIRST 0/1/0); CUSTOM "
            "takes weights from 0 to 10, at least one positive. Changing the policy recomputes the organisation's "
            "PENDING workloads. With `auto_assign`, Pylon assigns each PENDING workload its best option itself."
        ),
        request=SchedulingPolicyInputSerializer,
        responses={200: SchedulingPolicySerializer, 404: NO_ORGANIZATION},
    )
    def put(self, request):
        organization_id = self._organization_id(request)
        serializer = SchedulingPolicyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = services.policy_update(
            organization_id=organization_id, actor=request.user, data=serializer.validated_data
        )
        return Response(SchedulingPolicySerializer(policy).data)


@extend_schema(tags=["scheduling"])
class SchedulingPreviewView(ScopedAPIView):
    # Reads no stored row of the caller's: its scope is their organisation, whose policy applies.
    model = Organization

    def scoped_queryset(self, user):
        return account_selectors.organization_list(fetched_by=user)

    idempotency_exempt = True  # writes nothing: there is no effect to repeat
    required_scopes = {"post": ApiKeyScope.WORKLOADS_READ}  # reads options, writes nothing

    @extend_schema(
        operation_id="scheduling_preview",
        summary="Preview the options of a workload before submitting it",
        description=(
            "The same body as `POST /workloads/`. Returns the options the workload would get if submitted now, "
            "under the caller's organisation's policy, against the capacity already scheduled. Nothing is stored."
        ),
        request=WorkloadInputSerializer,
        responses={200: SchedulingPreviewSerializer},
    )
    def post(self, request):
        serializer = WorkloadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        preview = selectors.options_preview(fetched_by=request.user, data=serializer.validated_data)
        return Response(SchedulingPreviewSerializer(preview).data)
