"""Organisation management for operators: the organisation and its join code, and the audit log.
(The members' endpoints, with their actions, are ``views.MemberViewSet``.)"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import membership, selectors
from accounts.api.filtersets import AuditEntryFilterSet
from accounts.api.serializers import AuditEntrySerializer, OrganizationSerializer
from accounts.models import AuditEntry, Organization
from pylon.api.permissions import IsOperatorOrServiceRole
from pylon.api.viewsets import ScopedReadOnlyViewSet


@extend_schema_view(
    list=extend_schema(
        operation_id="accounts_organizations_list",
        tags=["accounts"],
        summary="The caller's organisation, with its join code (operators; the service role sees all)",
    ),
    retrieve=extend_schema(
        operation_id="accounts_organizations_retrieve",
        tags=["accounts"],
        summary="One organisation with its join code (its operators)",
    ),
)
class OrganizationViewSet(ScopedReadOnlyViewSet):
    model = Organization
    serializer_class = OrganizationSerializer
    permission_classes = [IsOperatorOrServiceRole]
    search_fields = ["name", "slug"]
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]

    def scoped_queryset(self, user):
        return selectors.organization_list(fetched_by=user)

    @extend_schema(
        operation_id="accounts_organizations_join_code_rotate",
        tags=["accounts"],
        summary="Rotate the join code",
        description="A new code at once; the old one stops working. Members who joined with it stay. Audited.",
        request=None,
        responses={200: OrganizationSerializer},
    )
    @action(detail=True, methods=["post"], url_path="join-code/rotate", filter_backends=[])
    def rotate_join_code(self, request, pk=None):
        organization = membership.organization_join_code_rotate(organization=self.get_object(), by=request.user)
        return Response(OrganizationSerializer(self.written(organization)).data)


@extend_schema_view(
    list=extend_schema(
        operation_id="accounts_audit_list",
        tags=["accounts"],
        summary="Membership changes of the caller's organisation, newest first (operators)",
    ),
    retrieve=extend_schema(operation_id="accounts_audit_retrieve", tags=["accounts"], summary="One change"),
)
class AuditEntryViewSet(ScopedReadOnlyViewSet):
    model = AuditEntry
    serializer_class = AuditEntrySerializer
    permission_classes = [IsOperatorOrServiceRole]
    filterset_class = AuditEntryFilterSet
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]

    def scoped_queryset(self, user):
        return selectors.audit_entry_list(fetched_by=user)
