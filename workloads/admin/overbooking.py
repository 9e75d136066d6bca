"""The half hours flagged as held over capacity (``workloads.overbooking``), read-only: what the
operators were told, and whose work is held there. An operator sees the half hours that hold their
organisation's work, and only its job ids (the selectors decide)."""

from datetime import timedelta

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.utils import timezone

from accounts import selectors as account_selectors
from pylon.console import formatting
from pylon.console.options import ReadOnlyModelAdmin
from workloads import selectors
from workloads.models import CapacityOverbooking
from zones.providers.base import HALF_HOUR, floor_half_hour


def _attach_held_work(rows, *, fetched_by) -> None:
    work = selectors.overbooking_held_work(rows, fetched_by=fetched_by)
    for row in rows:
        row.held_work = work.get((row.zone_id, row.slot_start), [])


class OverbookingChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        _attach_held_work(self.result_list, fetched_by=request.user)  # one query for the page


class OrganizationFilter(admin.SimpleListFilter):
    """Half hours holding work of one organisation (the service role's choice: operators see only theirs)."""

    title = "organisation"
    parameter_name = "organization"

    def lookups(self, request, model_admin):
        return [(str(org.pk), org.name) for org in account_selectors.organization_list(fetched_by=request.user)]

    def queryset(self, request, queryset):
        if self.value():
            return selectors.overbooking_filter_held(queryset, fetched_by=request.user, organization_id=self.value())
        return queryset


class WindowFilter(admin.SimpleListFilter):
    title = "window"
    parameter_name = "window"

    def lookups(self, request, model_admin):
        return [("upcoming", "Now and later"), ("next_24h", "In the next 24 hours"), ("passed", "Passed")]

    def queryset(self, request, queryset):
        now = timezone.now()
        current = floor_half_hour(now)
        if self.value() == "upcoming":
            return queryset.filter(slot_start__gte=current)
        if self.value() == "next_24h":
            return queryset.filter(slot_start__gte=current, slot_start__lt=now + timedelta(hours=24))
        if self.value() == "passed":
            return queryset.filter(slot_start__lt=current)
        return queryset


@admin.register(CapacityOverbooking)
class CapacityOverbookingAdmin(ReadOnlyModelAdmin):
    list_display = ["zone", "window", "flagged_at", "held_work_list"]
    list_filter = [("zone", admin.RelatedOnlyFieldListFilter), OrganizationFilter, WindowFilter]
    search_fields = ["zone__zone_name"]  # and a held workload's job id (``get_search_results``)
    search_help_text = "Zone name, or the job id of work held there"
    fields = ["zone", "window", "flagged_at", "held_work_list"]
    readonly_fields = fields
    ordering = ["slot_start", "zone__zone_name"]

    def get_queryset(self, request):
        return selectors.overbooking_list(fetched_by=request.user)

    def get_changelist(self, request, **kwargs):
        return OverbookingChangeList

    def get_object(self, request, object_id, from_field=None):
        row = super().get_object(request, object_id, from_field)
        if row is not None:
            _attach_held_work([row], fetched_by=request.user)
        return row

    def get_list_filter(self, request):
        if request.user.is_service_role:
            return self.list_filter
        return [entry for entry in self.list_filter if entry is not OrganizationFilter]

    def get_search_results(self, request, queryset, search_term):
        by_zone, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return by_zone, may_have_duplicates
        by_job = selectors.overbooking_filter_held(queryset, fetched_by=request.user, job_id=term)
        return by_zone | by_job, may_have_duplicates

    @admin.display(description="half hour", ordering="slot_start")
    def window(self, row: CapacityOverbooking) -> str:
        return f"{formatting.when(row.slot_start)} – {formatting.when(row.slot_start + HALF_HOUR)}"

    @admin.display(description="work held there")
    def held_work_list(self, row: CapacityOverbooking) -> str:
        return ", ".join(row.held_work) or formatting.EM_DASH
