"""What an operator may do to one workload from its console page: a small form per action and the
service it calls. The forms only shape input; the services decide (403, 409, 400)."""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import User
from pylon.console import formatting
from pylon.core.exceptions import ApplicationError
from scheduling import services as scheduling_services
from workloads import services
from workloads.models import MAX_ENERGY_KWH, ComputeWorkload
from workloads.state_machine import WorkloadAction
from zones import selectors as zone_selectors


class NoteForm(forms.Form):
    note = forms.CharField(max_length=2000, required=False, label="Note for the timeline")


class BeyondCapacityForm(forms.Form):
    override_capacity = forms.BooleanField(
        required=False,
        label="Even beyond the zone's capacity",
        help_text="Only with a reason: the timeline records what was short.",
    )


class StartForm(BeyondCapacityForm, NoteForm):
    pass


class AssignRankForm(BeyondCapacityForm, NoteForm):
    rank = forms.IntegerField(min_value=1, max_value=3, label="Recommendation")
    reassign = forms.BooleanField(required=False)


class AssignZoneForm(BeyondCapacityForm):
    zone = forms.ModelChoiceField(
        queryset=zone_selectors.zone_list().order_by("zone_name"), empty_label="Zone…", label="Zone"
    )
    start = forms.DateTimeField(
        required=False,
        label="Start (UTC)",
        help_text="Empty: now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    reason = forms.CharField(max_length=2000, label="Why override the recommendations")
    reassign = forms.BooleanField(required=False)
    field_order = ["zone", "start", "reason", "reassign", "override_capacity"]


class CompleteForm(NoteForm):
    field_order = ["measured_energy_kwh", "note"]
    measured_energy_kwh = forms.DecimalField(
        min_value=Decimal(0),
        max_value=MAX_ENERGY_KWH,
        decimal_places=3,
        required=False,
        label="Measured energy (kWh)",
        help_text="Empty: the estimate is accounted.",
    )


@dataclass(frozen=True)
class ConsoleAction:
    """One button of the console: who it needs (``needs``: the state machine's actions, any of them
    allowed now), its form, what it does and how it is told."""

    name: str
    label: str
    needs: tuple[str, ...]
    form: type[forms.Form]
    perform: Callable[[ComputeWorkload, User, dict[str, Any]], ComputeWorkload]
    done: Callable[[ComputeWorkload, dict[str, Any]], str]


def _assign(workload, user, data):
    """Both assign forms go through the assign endpoint's one entry point: a recommendation's rank,
    or a zone (and start) with a reason."""
    return scheduling_services.assignment_create(
        workload=workload,
        actor=user,
        rank=data.get("rank"),
        zone=data.get("zone"),
        start=data.get("start"),
        note=data["reason"] if "reason" in data else data["note"],
        reassign=data["reassign"],
        override_capacity=data["override_capacity"],
    )


def _placed(workload: ComputeWorkload, data) -> str:
    how = f" (recommendation #{data['rank']})" if "rank" in data else ""
    verb = "reassigned" if data.get("reassign") else "assigned"
    return (
        f"{verb} to {workload.chosen_grid_zone.zone_name}, starting {formatting.when(workload.planned_start)} UTC{how}"
    )


def _completed(workload: ComputeWorkload, data) -> str:
    return (
        f"completed: {formatting.kwh(workload.energy_kwh)}, {formatting.kg(workload.carbon_emitted_kg)} CO2, "
        f"{formatting.gbp(workload.cost_gbp)}"
    )


CONSOLE_ACTIONS = {
    action.name: action
    for action in (
        ConsoleAction(
            "assign-rank",
            "Assign recommendation",
            (WorkloadAction.ASSIGN, WorkloadAction.REASSIGN),
            AssignRankForm,
            _assign,
            _placed,
        ),
        ConsoleAction(
            "assign-zone",
            "Assign to a zone",
            (WorkloadAction.ASSIGN, WorkloadAction.REASSIGN),
            AssignZoneForm,
            _assign,
            _placed,
        ),
        ConsoleAction(
            "start",
            "Start",
            (WorkloadAction.START,),
            StartForm,
            lambda w, user, data: services.workload_start(
                workload=w, actor=user, note=data["note"], override_capacity=data["override_capacity"]
            ),
            lambda w, data: "started",
        ),
        ConsoleAction(
            "complete",
            "Complete",
            (WorkloadAction.COMPLETE,),
            CompleteForm,
            lambda w, user, data: services.workload_complete(
                workload=w, actor=user, measured_energy_kwh=data["measured_energy_kwh"], note=data["note"]
            ),
            _completed,
        ),
        ConsoleAction(
            "fail",
            "Mark failed",
            (WorkloadAction.FAIL,),
            NoteForm,
            lambda w, user, data: services.workload_fail(workload=w, actor=user, note=data["note"]),
            lambda w, data: "marked failed",
        ),
        ConsoleAction(
            "cancel",
            "Cancel",
            (WorkloadAction.CANCEL,),
            NoteForm,
            lambda w, user, data: services.workload_cancel(workload=w, actor=user, note=data["note"]),
            lambda w, data: "cancelled",
        ),
    )
}


def refusal(exc: Exception) -> str:
    """Why a service refused, in the words it gave."""
    if isinstance(exc, ApplicationError):
        return exc.message
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return " ".join(message for messages in exc.message_dict.values() for message in messages)
        return " ".join(exc.messages)
    return str(exc) or "Not allowed."


REFUSED = (ApplicationError, PermissionDenied, ValidationError)


def form_errors(form: forms.Form) -> str:
    return " ".join(
        f"{form.fields[name].label or name}: {' '.join(errors)}" if name in form.fields else " ".join(errors)
        for name, errors in form.errors.items()
    )
