from django.db.models import Q
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from notifications import selectors, services
from notifications.api.serializers import (
    NOTIFICATION_LIST_COLUMNS,
    NotificationSerializer,
    NotificationsMarkedSerializer,
    notification_list_representation,
)
from notifications.models import Notification
from pylon.api.filters import FilterBackend, PylonFilterSet, updated_since_filter
from pylon.api.pagination import list_source
from pylon.api.viewsets import ScopedGenericViewSet


class NotificationFilterSet(PylonFilterSet):
    unread = filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_unread",
        help_text="`true`: unread only; `false`: read only.",
    )

    # A notification changes once: when it is read.
    updated_since = updated_since_filter(method="filter_updated_since")

    class Meta:
        model = Notification
        fields: list[str] = []

    def filter_unread(self, queryset, name, value):
        return queryset.filter(read_at__isnull=value == "true")

    def filter_updated_since(self, queryset, name, value):
        return queryset.filter(Q(created_at__gte=value) | Q(read_at__gte=value))


@extend_schema(tags=["notifications"])
@extend_schema_view(
    list=extend_schema(
        operation_id="notifications_list",
        summary="My notifications",
        description="The caller's own notifications, newest first. Nobody sees another's.",
    ),
)
class NotificationViewSet(mixins.ListModelMixin, ScopedGenericViewSet):
    model = Notification
    cursor_paginated = True  # an inbox only grows: newest first, by keyset
    serializer_class = NotificationSerializer
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"
    filter_backends = [FilterBackend]
    filterset_class = NotificationFilterSet

    def scoped_queryset(self, user):
        return selectors.notification_list(fetched_by=user)

    def list(self, request):
        # Plain rows, shaped like the serializer's output; a bare page by SQL compiled once.
        self.paginator.columns = NOTIFICATION_LIST_COLUMNS
        scope = selectors.notification_scope(fetched_by=request.user)
        rows = self.paginate_queryset(list_source(self, name="notifications", scope=scope))
        return self.get_paginated_response(notification_list_representation(rows))

    @extend_schema(
        operation_id="notifications_read",
        summary="Mark a notification read",
        request=None,
        responses={200: NotificationSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def read(self, request, pk=None):
        notification = services.notification_mark_read(notification=self.get_object())
        return Response(NotificationSerializer(self.written(notification)).data)

    @extend_schema(
        operation_id="notifications_read_all",
        summary="Mark all my notifications read",
        request=None,
        responses={200: NotificationsMarkedSerializer},
    )
    @action(detail=False, methods=["post"], url_path="read-all", filter_backends=[], pagination_class=None)
    def read_all(self, request):
        marked = services.notifications_mark_all_read(user=request.user)
        return Response(NotificationsMarkedSerializer({"marked": marked}).data, status=status.HTTP_200_OK)
