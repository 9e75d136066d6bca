"""The workloads list, the queue and each workload's console page."""

import uuid
from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from pylon.console import formatting
from pylon.console.options import ReadOnlyModelAdmin
from scheduling import selectors as scheduling_selectors
from workloads import selectors
from workloads.admin.actions import CONSOLE_ACTIONS, REFUSED, AssignRankForm, form_errors, refusal
from workloads.models import ComputeWorkload, WorkloadEvent, WorkloadStatus
from workloads.state_machine import WorkloadAction

QUEUE_PAGE_SIZE = 50


def slack(workload: ComputeWorkload, now) -> timedelta | None:
    """Time to spare: from now to the deadline, less the run itself (negative: it can no longer make it)."""
    if workload.deadline is None:
        return None
    return workload.deadline - now - timedelta(minutes=workload.estimated_duration_mins)


def recommendation_row(recommendation) -> dict:
    r = recommendation
    return {
        "rank": r.rank,
        "zone": r.zone.zone_name,
        "start": formatting.when(r.start),
        "wait": formatting.minutes(r.wait_mins) if r.wait_mins else "starts at once",
        "emissions": formatting.kg(r.expected_emissions_kg),
        "cost": formatting.gbp(r.expected_cost_gbp),
        "carbon_saving": formatting.saving_kg(r.carbon_saving_kg),
        "cost_saving": formatting.gbp(r.cost_saving_gbp),
        "score": formatting.ratio(r.score),
        "parts": " · ".join(formatting.ratio(part) for part in (r.score_carbon, r.score_price, r.score_wait)),
    }


def event_row(event: WorkloadEvent) -> dict:
    try:
        label = WorkloadAction(event.action).label
    except ValueError:
        label = event.action
    return {
        "at": formatting.when(event.created_at),
        "label": label,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "by": event.actor.email if event.actor else "Pylon (by policy)",
        "note": event.note,
    }


class OwnerFilter(admin.RelatedOnlyFieldListFilter):
    """The owners among the workloads the caller sees (the admin's queryset: the selector's)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "owner"


@admin.register(ComputeWorkload)
class ComputeWorkloadAdmin(admin.ModelAdmin):
    change_form_template = "admin/workloads/computeworkload/console.html"
    list_display = [
        "job_id",
        "workload_name",
        "owner",
        "status_badge",
        "urgency_badge",
        "zones",
        "deadline_short",
        "submitted_short",
    ]
    list_display_links = ["job_id", "workload_name"]
    list_filter = [
        "status",
        "urgency",
        ("chosen_grid_zone", admin.RelatedOnlyFieldListFilter),
        ("user", OwnerFilter),
        ("submitted_at", admin.DateFieldListFilter),
        "workload_type",
    ]
    search_fields = ["job_id", "workload_name", "user__email"]
    search_help_text = "Job id, name or owner's email"
    date_hierarchy = "submitted_at"
    list_per_page = 50
    list_select_related = ["user", "organization", "host_dc", "chosen_grid_zone"]
    actions = ["assign_top_recommendation", "cancel_workloads"]
    fieldsets = [
        (
            "Request",
            {
                "fields": [
                    ("workload_name", "workload_type"),
                    ("owner", "submitted"),
                    ("host_zone", "deadline_at"),
                    ("resources", "estimated_energy"),
                    ("caps", "deferral"),
                ]
            },
        ),
        ("Schedule", {"fields": [("chosen_zone", "planned")]}),
        ("Run and accounting", {"fields": [("started", "ended"), "accounting"]}),
    ]
    readonly_fields = [
        "owner",
        "submitted",
        "host_zone",
        "deadline_at",
        "resources",
        "estimated_energy",
        "caps",
        "deferral",
        "chosen_zone",
        "planned",
        "started",
        "ended",
        "accounting",
    ]

    # -- who may do what ------------------------------------------------------------------------

    def get_queryset(self, request):
        return selectors.workload_list(fetched_by=request.user)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Workloads", **(extra_context or {})})

    def get_list_display(self, request):
        if request.user.is_service_role:
            return [*self.list_display[:3], "organization", *self.list_display[3:]]
        return self.list_display

    def has_add_permission(self, request):
        return False  # workloads are submitted by their owners through the API

    def has_change_permission(self, request, obj=None):
        # The page of a workload is a console, never a form: its fields are the owner's, changed
        # through the API while PENDING. Operators act with the console's buttons (and the list's
        # actions), which need the model's change permission.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # cancel instead: the history and the accounting stay

    # -- columns and read-only fields -----------------------------------------------------------

    @admin.display(description="Owner", ordering="user__email")
    def owner(self, obj):
        return obj.user.email

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return formatting.badge(obj.status)

    @admin.display(description="Urgency", ordering="urgency_rank")
    def urgency_badge(self, obj):
        return formatting.badge(obj.urgency)

    @admin.display(description="Host → chosen zone")
    def zones(self, obj):
        chosen = obj.chosen_grid_zone.zone_name if obj.chosen_grid_zone else "not assigned"
        return format_html("{} →<br>{}", obj.host_dc.zone_name, chosen)

    @admin.display(description="Deadline", ordering="deadline")
    def deadline_short(self, obj):
        return formatting.when(obj.deadline)

    @admin.display(description="Submitted", ordering="submitted_at")
    def submitted_short(self, obj):
        return formatting.when(obj.submitted_at)

    @admin.display(description="Submitted")
    def submitted(self, obj):
        return f"{formatting.when(obj.submitted_at)} UTC"

    @admin.display(description="Deadline")
    def deadline_at(self, obj):
        return f"{formatting.when(obj.deadline)} UTC" if obj.deadline else "none"

    @admin.display(description="Host zone")
    def host_zone(self, obj):
        return obj.host_dc.zone_name

    @admin.display(description="Runs in")
    def chosen_zone(self, obj):
        return obj.chosen_grid_zone.zone_name if obj.chosen_grid_zone else "not assigned"

    @admin.display(description="Planned start")
    def planned(self, obj):
        return f"{formatting.when(obj.planned_start)} UTC" if obj.planned_start else formatting.EM_DASH

    @admin.display(description="Started")
    def started(self, obj):
        return f"{formatting.when(obj.actual_start)} UTC" if obj.actual_start else formatting.EM_DASH

    @admin.display(description="Ended")
    def ended(self, obj):
        return f"{formatting.when(obj.actual_end)} UTC" if obj.actual_end else formatting.EM_DASH

    @admin.display(description="Resources")
    def resources(self, obj):
        return (
            f"{float(obj.required_gpu_mins):,.0f} GPU-min · {obj.required_cpu_cores} cores · "
            f"{float(obj.required_memory_gb):,.0f} GB for {formatting.minutes(obj.estimated_duration_mins)}"
        )

    @admin.display(description="Estimated energy")
    def estimated_energy(self, obj):
        return formatting.kwh(obj.estimated_energy_kwh) if obj.estimated_energy_kwh is not None else "power model"

    @admin.display(description="Caps")
    def caps(self, obj):
        carbon = "none" if obj.carbon_cap_gco2 is None else formatting.kg(obj.carbon_cap_gco2 / 1000)
        price = "none" if obj.max_price_gbp is None else formatting.gbp(obj.max_price_gbp)
        return f"carbon {carbon} · price {price}"

    @admin.display(description="May wait")
    def deferral(self, obj):
        return formatting.minutes(obj.deferral_window_mins) if obj.is_deferrable else "no: starts at once"

    @admin.display(description="Accounting")
    def accounting(self, obj):
        if obj.carbon_emitted_kg is None:
            return "when the run completes"
        saved = (obj.baseline_carbon_kg or 0) - obj.carbon_emitted_kg
        cost_saved = (obj.baseline_cost_gbp or 0) - (obj.cost_gbp or 0)
        return (
            f"{formatting.kwh(obj.energy_kwh)} · {formatting.kg(obj.carbon_emitted_kg)} CO2 · "
            f"{formatting.gbp(obj.cost_gbp)} — saved {formatting.saving_kg(saved)} and "
            f"{formatting.gbp(cost_saved)} against running at once in {obj.host_dc.zone_name}"
        )

    # -- the console page -----------------------------------------------------------------------

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("queue/", self.admin_site.admin_view(self.queue_view), name=f"{prefix}_queue"),
            path(
                "<path:object_id>/console/<slug:action>/",
                self.admin_site.admin_view(self.console_action_view),
                name=f"{prefix}_console",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        workload = self.get_object(request, unquote(object_id))
        if workload is not None:
            extra_context = {**(extra_context or {}), **self._console_context(request, workload)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _console_context(self, request, workload):
        now = timezone.now()
        outcome = scheduling_selectors.outcome_get(workload=workload)
        allowed = selectors.workload_actions_available(workload=workload, user=request.user)
        actions = {
            name: action.form(initial={"reassign": workload.status == WorkloadStatus.SCHEDULED})
            for name, action in CONSOLE_ACTIONS.items()
            if self.has_change_permission(request) and any(need in allowed for need in action.needs)
        }
        return {
            "title": f"{workload.job_id} · {workload.workload_name}",
            "subtitle": None,
            "workload": workload,
            "status_badge": formatting.badge(workload.status),
            "urgency_badge": formatting.badge(workload.urgency),
            "slack": formatting.duration(slack(workload, now)),
            "recommendation_rows": [
                recommendation_row(r) for r in scheduling_selectors.recommendation_list(workload=workload)
            ],
            "outcome": outcome,
            "baseline_text": formatting.kg(outcome.baseline_emissions_kg) if outcome else "",
            "event_rows": [event_row(e) for e in selectors.workload_events(workload=workload)],
            "planned_start_text": formatting.when(workload.planned_start),
            "deadline_text": formatting.when(workload.deadline),
            "accounting_text": self.accounting(workload),
            "console_forms": actions,
            "reassign": workload.status == WorkloadStatus.SCHEDULED,
            "fmt": formatting,
        }

    def console_action_view(self, request, object_id, action):
        """One console button: POST only; the workload is looked up through the selector (another
        organisation's id is "doesn't exist"), the service decides, the admin history records it."""
        console_action = CONSOLE_ACTIONS.get(action)
        workload = self.get_object(request, unquote(object_id))
        if workload is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        back = self._next_url(request, reverse("admin:workloads_computeworkload_change", args=[workload.pk]))
        if request.method != "POST" or console_action is None:
            self.message_user(request, "Use the buttons on the workload's page.", messages.ERROR)
            return HttpResponseRedirect(back)
        if not self.has_change_permission(request):
            self.message_user(request, f"You may not act on {workload}.", messages.ERROR)
            return HttpResponseRedirect(back)
        form = console_action.form(request.POST)
        if not form.is_valid():
            self.message_user(request, f"Refused — {workload}: {form_errors(form)}", messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            result = console_action.perform(workload, request.user, form.cleaned_data)
        except REFUSED as exc:
            self.message_user(request, f"Refused — {workload}: {refusal(exc)}", messages.ERROR)
            return HttpResponseRedirect(back)
        done = console_action.done(result, form.cleaned_data)
        note = form.cleaned_data.get("note") or form.cleaned_data.get("reason")
        self.log_change(request, result, f"{done.capitalize()}." + (f" Note: {note}" if note else ""))
        self.message_user(request, f"{result}: {done}.", messages.SUCCESS)
        return HttpResponseRedirect(back)

    def _next_url(self, request, default: str) -> str:
        wanted = request.POST.get("next") or request.GET.get("next")
        if wanted and url_has_allowed_host_and_scheme(wanted, {request.get_host()}, request.is_secure()):
            return wanted
        return default

    # -- the queue ------------------------------------------------------------------------------

    def queue_view(self, request):
        """The organisation's PENDING workloads, most urgent first, each with its best option."""
        now = timezone.now()
        queue = scheduling_selectors.queue_with_options(scheduling_selectors.queue_list(fetched_by=request.user))
        page = Paginator(queue, QUEUE_PAGE_SIZE).get_page(request.GET.get("p"))
        rows = []
        for workload in page:
            top = workload.ranked_recommendations[0] if workload.ranked_recommendations else None
            outcome = getattr(workload, "scheduling_outcome", None)
            rows.append(
                {
                    "workload": workload,
                    "urgency": formatting.badge(workload.urgency),
                    "slack": slack(workload, now),
                    "slack_text": formatting.duration(slack(workload, now)),
                    "waiting": formatting.duration(now - workload.submitted_at),
                    "top": top,
                    "top_start": formatting.when(top.start) if top else "",
                    "top_saving": formatting.saving_kg(top.carbon_saving_kg) + " CO2" if top else "",
                    "top_cost_saving": formatting.gbp(top.cost_saving_gbp) if top else "",
                    "why_not": outcome.message if outcome is not None and not outcome.feasible else "",
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Queue: pending workloads, most urgent first",
            "subtitle": None,
            "rows": rows,
            "page": page,
            "can_assign": self.has_change_permission(request),
            "fmt": formatting,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/workloads/computeworkload/queue.html", context)

    # -- list actions ---------------------------------------------------------------------------

    def response_action(self, request, queryset):
        """Refuse the whole action, saying so, when a selected id is not a workload the caller sees:
        a tampered or stale checkbox value must not be dropped in silence (nor crash on a bad UUID)."""
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if selected and request.POST.get("select_across") != "1":
            parsed = {}
            for value in selected:
                try:
                    parsed[value] = uuid.UUID(value)
                except ValueError:
                    parsed[value] = None
            found = set(
                self.get_queryset(request).filter(pk__in=[v for v in parsed.values() if v]).values_list("pk", flat=True)
            )
            refused = [value for value, pk in parsed.items() if pk not in found]
            if refused:
                shown = ", ".join(refused[:3]) + (" …" if len(refused) > 3 else "")
                self.message_user(
                    request,
                    f"Nothing was changed: {len(refused)} selected id(s) are not workloads you may act on ({shown}).",
                    messages.ERROR,
                )
                return HttpResponseRedirect(self._next_url(request, request.get_full_path()))
        return super().response_action(request, queryset)

    def _each(self, request, queryset, apply, done: str):
        succeeded = 0
        for workload in queryset.order_by("-urgency_rank", "deadline", "submitted_at"):
            try:
                result = apply(workload)
            except REFUSED as exc:
                self.message_user(request, f"Refused — {workload}: {refusal(exc)}", messages.WARNING)
                continue
            succeeded += 1
            self.log_change(request, result, f"{done.capitalize()} (list action).")
        if succeeded:
            self.message_user(request, f"{succeeded} workload(s) {done}.", messages.SUCCESS)
        return HttpResponseRedirect(self._next_url(request, request.get_full_path()))

    @admin.action(description="Assign each its top recommendation (#1)", permissions=["change"])
    def assign_top_recommendation(self, request, queryset):
        take = CONSOLE_ACTIONS["assign-rank"]
        data = AssignRankForm({"rank": 1, "note": "Assigned from the list."})
        data.is_valid()
        return self._each(
            request, queryset, lambda workload: take.perform(workload, request.user, data.cleaned_data), "assigned"
        )

    @admin.action(description="Cancel the selected workloads", permissions=["change"])
    def cancel_workloads(self, request, queryset):
        cancel = CONSOLE_ACTIONS["cancel"]
        data = {"note": "Cancelled from the list."}
        return self._each(request, queryset, lambda workload: cancel.perform(workload, request.user, data), "cancelled")


@admin.register(WorkloadEvent)
class WorkloadEventAdmin(ReadOnlyModelAdmin):
    list_display = ["created_at", "workload", "action", "from_status", "to_status", "actor"]
    list_filter = ["action", "to_status"]
    search_fields = ["workload__job_id", "note"]
    list_select_related = ["workload", "actor"]

    def get_queryset(self, request):
        visible = selectors.workload_list(fetched_by=request.user)
        return super().get_queryset(request).filter(workload__in=visible.values("pk"))
