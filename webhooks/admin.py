"""Webhooks in the operators' console: an operator sees and changes their organisation's endpoints
(through the API's selector and services, so a URL is vetted here too) and reads every attempt."""

from django.contrib import admin, messages

from pylon.console.options import ReadOnlyModelAdmin
from pylon.core.exceptions import ApplicationError
from webhooks import selectors, services
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "organization", "enabled", "failing_since", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "description"]
    readonly_fields = [
        "organization",
        "secret",
        "previous_secret",
        "previous_secret_expires_at",
        "created_by",
        "failing_since",
        "disabled_reason",
        "created_at",
        "updated_at",
    ]
    fields = ["url", "description", "event_types", "enabled", *readonly_fields]

    def get_queryset(self, request):
        # The API's scope: an operator sees their organisation's endpoints only.
        return selectors.webhook_endpoint_list(fetched_by=request.user).select_related("organization")

    def has_add_permission(self, request):
        return False  # registered through the API, which shows the new secret once

    def has_module_permission(self, request):
        return _operator_or_service(request)

    def has_view_permission(self, request, obj=None):
        return _operator_or_service(request, obj)

    def has_change_permission(self, request, obj=None):
        return _operator_or_service(request, obj)

    def has_delete_permission(self, request, obj=None):
        return _operator_or_service(request, obj)

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        original = selectors.webhook_endpoint_list(fetched_by=request.user).get(pk=obj.pk)
        try:
            services.webhook_endpoint_update(endpoint=original, data=data)
        except ApplicationError as refusal:
            self.message_user(request, refusal.message, level=messages.ERROR)


def _operator_or_service(request, obj=None) -> bool:
    user = request.user
    if not (user.is_active and (user.is_service_role or user.is_operator)):
        return False
    return obj is None or user.operates(getattr(obj, "organization_id", None) or obj.endpoint.organization_id)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["attempted_at", "status_code", "succeeded", "latency_ms", "response_excerpt", "error"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = ["message_id", "event_type", "endpoint", "status", "attempt_count", "next_attempt_at", "created_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["message_id"]
    readonly_fields = [
        "endpoint",
        "message_id",
        "event_type",
        "body",
        "status",
        "attempt_count",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    ]
    inlines = [WebhookAttemptInline]

    def get_queryset(self, request):
        return selectors.webhook_delivery_list(fetched_by=request.user).select_related("endpoint")

    def has_module_permission(self, request):
        return _operator_or_service(request)

    def has_view_permission(self, request, obj=None):
        return _operator_or_service(request, obj)
