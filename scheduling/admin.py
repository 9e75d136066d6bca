"""Operators work here too: a staff operator sees only their organisation's policy and its workloads'
recommendations and outcomes, through the same selectors as the API."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from accounts import selectors as account_selectors
from pylon.console import formatting
from pylon.console.options import ReadOnlyModelAdmin
from scheduling import selectors, services
from scheduling.models import Recommendation, SchedulingOutcome, SchedulingPolicy
from workloads import selectors as workload_selectors


def _workload_link(workload):
    """To the workload's console page, where its options and actions are."""
    url = reverse("admin:workloads_computeworkload_change", args=[workload.pk])
    return format_html('<a href="{}">{}</a>', url, workload)


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
        "__str__",
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
        return [*self.readonly_fields, "organization"]

    def has_add_permission(self, request):
        return False  # every organisation has one: created on first view (``changelist_view``)

    def has_delete_permission(self, request, obj=None):
        return False  # a policy is changed, never removed: workloads are scored by it

    def changelist_view(self, request, extra_context=None):
        """Every organisation the caller may act in has its policy, stored on first view; an
        operator, who has exactly one, goes straight to it."""
        organizations = account_selectors.organization_list(fetched_by=request.user)
        services.policies_ensure(organization_ids=organizations.values_list("pk", flat=True))
        if not request.user.is_service_role:
            policy = self.get_queryset(request).first()
            if policy is not None:
                return HttpResponseRedirect(reverse("admin:scheduling_schedulingpolicy_change", args=[policy.pk]))
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name != "organization"}
        try:
            policy = services.policy_update(organization_id=obj.organization_id, actor=request.user, data=data)
        except (PermissionDenied, ValidationError) as exc:
            self.message_user(request, "; ".join(getattr(exc, "messages", [str(exc)])), messages.ERROR)
            return
        obj.pk = policy.pk


@admin.register(Recommendation)
class RecommendationAdmin(ReadOnlyModelAdmin):
    list_display = [
        "workload_link",
        "rank",
        "zone",
        "start",
        "emissions",
        "carbon_saving",
        "cost_saving",
        "computed_at",
    ]
    list_filter = ["rank", "zone"]
    search_fields = ["workload__job_id", "workload__workload_name"]
    list_select_related = ["workload", "zone"]

    @admin.display(description="Workload", ordering="workload__job_id")
    def workload_link(self, obj):
        return _workload_link(obj.workload)

    @admin.display(description="Expected CO2", ordering="expected_emissions_kg")
    def emissions(self, obj):
        return formatting.kg(obj.expected_emissions_kg)

    @admin.display(description="Saves CO2", ordering="carbon_saving_kg")
    def carbon_saving(self, obj):
        return formatting.saving_kg(obj.carbon_saving_kg)

    @admin.display(description="Saves £", ordering="cost_saving_gbp")
    def cost_saving(self, obj):
        return formatting.gbp(obj.cost_saving_gbp)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(workload__in=_visible_workloads(request))


@admin.register(SchedulingOutcome)
class SchedulingOutcomeAdmin(ReadOnlyModelAdmin):
    list_display = ["workload_link", "feasible", "constraint", "message", "policy_preset", "computed_at"]
    list_filter = ["feasible", "constraint", "policy_preset"]
    search_fields = ["workload__job_id", "message"]
    list_select_related = ["workload"]

    @admin.display(description="Workload", ordering="workload__job_id")
    def workload_link(self, obj):
        return _workload_link(obj.workload)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(workload__in=_visible_workloads(request))
