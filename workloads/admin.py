"""Operators work here too. Rows come through the same selector as the API, so a staff operator
sees only their organisation's workloads; the actions go through the same services."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied, ValidationError

from pylon.core.exceptions import ApplicationError
from workloads import selectors, services
from workloads.api.serializers import SYSTEM_FIELDS
from workloads.models import ComputeWorkload, WorkloadEvent
from zones.models import GridZone


class WorkloadActionForm(ActionForm):
    zone = forms.ModelChoiceField(
        queryset=GridZone.objects.all(),
        required=False,
        help_text="For “Assign”: the zone; empty assigns each workload's top recommendation.",
    )


class WorkloadEventInline(admin.TabularInline):
    model = WorkloadEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "action", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ComputeWorkload)
class ComputeWorkloadAdmin(admin.ModelAdmin):
    list_display = [
        "job_id",
        "workload_name",
        "user",
        "organization",
        "status",
        "urgency",
        "host_dc",
        "recommended_grid_zone",
        "chosen_grid_zone",
        "deadline",
        "submitted_at",
    ]
    list_filter = ["status", "urgency", "workload_type", "organization", "chosen_grid_zone", "host_dc"]
    search_fields = ["job_id", "workload_name", "user__email", "user__user_name"]
    date_hierarchy = "submitted_at"
    list_select_related = [
        "user",
        "organization",
        "host_dc",
        "chosen_grid_zone",
        "recommended_grid_zone",
    ]
    readonly_fields = [name for name in SYSTEM_FIELDS if name not in ("owner",)]
    autocomplete_fields: list[str] = []
    inlines = [WorkloadEventInline]
    action_form = WorkloadActionForm
    actions = ["assign_zone", "cancel_workloads"]

    def get_queryset(self, request):
        return selectors.workload_list(fetched_by=request.user)

    def get_list_filter(self, request):
        # The filter's choices are every organisation: only the service role may see them all.
        if request.user.is_service_role:
            return self.list_filter
        return [name for name in self.list_filter if name != "organization"]

    def has_add_permission(self, request):
        return False  # workloads are submitted by their owners through the API

    def has_delete_permission(self, request, obj=None):
        return False  # cancel instead: the history and the accounting stay

    def save_model(self, request, obj, form, change):
        services.workload_update(
            workload=obj,
            actor=request.user,
            data={name: form.cleaned_data[name] for name in form.changed_data if name in services.USER_FIELDS},
        )

    def _each(self, request, queryset, apply, done: str):
        succeeded = 0
        for workload in queryset:
            try:
                apply(workload)
                succeeded += 1
            except (ApplicationError, PermissionDenied, ValidationError) as exc:
                message = getattr(exc, "message", None) or "; ".join(getattr(exc, "messages", [str(exc)]))
                self.message_user(request, f"{workload.job_id}: {message}", messages.WARNING)
        if succeeded:
            self.message_user(request, f"{succeeded} workload(s) {done}.", messages.SUCCESS)

    @admin.action(description="Assign the chosen zone (or the top recommendation)", permissions=["change"])
    def assign_zone(self, request, queryset):
        picked = request.POST.get("zone")
        zone = GridZone.objects.filter(pk=picked).first() if picked else None

        def assign(workload):
            target = zone or workload.recommended_grid_zone
            if target is None:
                raise ValidationError("No zone picked and no recommendation yet.")
            services.workload_assign(workload=workload, actor=request.user, zone=target, note="Assigned in the admin.")

        self._each(request, queryset, assign, "assigned")

    @admin.action(description="Cancel the selected workloads", permissions=["change"])
    def cancel_workloads(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda workload: services.workload_cancel(
                workload=workload, actor=request.user, note="Cancelled in the admin."
            ),
            "cancelled",
        )


@admin.register(WorkloadEvent)
class WorkloadEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "workload", "action", "from_status", "to_status", "actor"]
    list_filter = ["action", "to_status"]
    search_fields = ["workload__job_id", "note"]
    list_select_related = ["workload", "actor"]

    def get_queryset(self, request):
        visible = selectors.workload_list(fetched_by=request.user)
        return super().get_queryset(request).filter(workload__in=visible.values("pk"))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
