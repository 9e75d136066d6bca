import django_filters

from pylon.api.filters import PylonFilterSet, updated_since_filter
from workloads.models import ComputeWorkload, Urgency, WorkloadStatus, WorkloadType


class ChoiceInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """Several values at once (`?status=PENDING&status=SCHEDULED` or `?status=PENDING,SCHEDULED`), each one
    checked against the choices."""


class WorkloadFilterSet(PylonFilterSet):
    status = ChoiceInFilter(
        choices=WorkloadStatus.choices,
        help_text="Statuses; several: repeat the parameter (`status=PENDING&status=SCHEDULED`, the SPA's Queued) "
        "or separate them with commas.",
    )
    urgency = ChoiceInFilter(
        choices=Urgency.choices, help_text="Urgencies; several: repeat the parameter or separate them with commas."
    )
    workload_type = ChoiceInFilter(
        choices=WorkloadType.choices,
        help_text="Workload types; several: repeat the parameter or separate them with commas.",
    )
    host_dc = django_filters.UUIDFilter(field_name="host_dc_id", help_text="Host (preferred) zone id.")
    chosen_grid_zone = django_filters.UUIDFilter(field_name="chosen_grid_zone_id", help_text="Chosen zone id.")
    submitted_after = django_filters.IsoDateTimeFilter(field_name="submitted_at", lookup_expr="gte")
    submitted_before = django_filters.IsoDateTimeFilter(field_name="submitted_at", lookup_expr="lt")
    deadline_after = django_filters.IsoDateTimeFilter(field_name="deadline", lookup_expr="gte")
    deadline_before = django_filters.IsoDateTimeFilter(field_name="deadline", lookup_expr="lt")
    updated_since = updated_since_filter("updated_at")
    ordering = django_filters.OrderingFilter(
        fields=(
            ("submitted_at", "submitted_at"),
            ("deadline", "deadline"),
            ("urgency_rank", "urgency"),
            ("workload_name", "workload_name"),
            ("status", "status"),
            ("updated_at", "updated_at"),
        ),
        help_text="Order by `submitted_at`, `deadline`, `urgency` (LOW…CRITICAL), `workload_name`, `status` or "
        "`updated_at`; prefix `-` for descending; several: repeat the parameter or separate them with commas. "
        "Default: newest first.",
    )

    class Meta:
        model = ComputeWorkload
        fields: list[str] = []


class WorkloadEventFilterSet(PylonFilterSet):
    # Events are never changed once written: "updated" is when they happened. No ``Meta.model``: the
    # action's view is the workloads' (django-filter would insist the two models match).
    updated_since = updated_since_filter("created_at")
