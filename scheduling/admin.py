"""Operators work here too: a staff operator sees only their organisation's policy and its workloads'
recommendations and outcomes, through the same selectors as the API."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from scheduling import selectors, services
from scheduling.models import Recommendation, SchedulingOutcome, SchedulingPolicy
from workloads import selectors as workload_selectors


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _visible_workloads(request):
    return workload_selectors.workload_list(fetched_by=request.user).values("pk")


class SchedulingPolicyAdminForm(forms.ModelForm):
    """Checks the preset rule before saving, so a refused change shows on the form (not as a
    "saved" message over an unsaved policy)."""

    class Meta:
        model = SchedulingPolicy
        fields = ["organization", "preset", "carbon_weight", "price_weight", "wait_weight", "auto_assign"]

    def clean(self):
        cleaned = super().clean()
        changed = {name: cleaned[name] for name in self.changed_data if name in services.POLICY_WEIGHT_FIELDS}
        if "preset" in cleaned:
            services.policy_weights(preset=cleaned["preset"], data=changed, current=self.instance)
        return cleaned


@admin.register(SchedulingPolicy)
class SchedulingPolicyAdmin(admin.ModelAdmin):
    form = SchedulingPolicyAdminForm
    list_display = [
        "organization",
        "preset",
        "carbon_weight",
        "price_weight",
        "wait_weight",
        "auto_assign",
        "updated_at",
    ]
    list_filter = ["preset", "auto_assign"]
    list_select_related = ["organization", "updated_by"]
    fields = ["organization", "preset", "carbon_weight", "price_weight", "wait_weight", "auto_assign", "updated_by"]
    readonly_fields = ["updated_by"]

    def get_queryset(self, request):
        return selectors.policy_list(fetched_by=request.user).select_related(*self.list_select_related)

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "organization"] if obj is not None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return request.user.is_service_role

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name != "organization"}
        try:
            policy = services.policy_update(organization_id=obj.organization_id, actor=request.user, data=data)
        except (PermissionDenied, ValidationError) as exc:
            self.message_user(request, "; ".join(getattr(exc, "messages", [str(exc)])), messages.ERROR)
            return
        obj.pk = policy.pk


@admin.register(Recommendation)
class RecommendationAdmin(ReadOnlyAdmin):
    list_display = ["workload", "rank", "zone", "start", "expected_emissions_kg", "carbon_saving_kg", "computed_at"]
    list_filter = ["rank", "zone"]
    search_fields = ["workload__job_id"]
    list_select_related = ["workload", "zone"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(workload__in=_visible_workloads(request))


@admin.register(SchedulingOutcome)
class SchedulingOutcomeAdmin(ReadOnlyAdmin):
    list_display = ["workload", "feasible", "constraint", "policy_preset", "computed_at"]
    list_filter = ["feasible", "constraint", "policy_preset"]
    search_fields = ["workload__job_id", "message"]
    list_select_related = ["workload"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(workload__in=_visible_workloads(request))
