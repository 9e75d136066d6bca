"""Notifications are personal: in the admin only the service role (backend support) reads them,
and nobody edits them."""

from django.contrib import admin

from notifications.models import Notification
from pylon.console.options import ReadOnlyModelAdmin


@admin.register(Notification)
class NotificationAdmin(ReadOnlyModelAdmin):
    list_display = ["created_at", "recipient", "kind", "title", "read_at"]
    list_filter = ["kind"]
    search_fields = ["title", "recipient__email", "workload__job_id"]
    list_select_related = ["recipient", "workload"]

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_service_role

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_service_role
