import django_filters

from workloads.models import ComputeWorkload, Urgency, WorkloadStatus, WorkloadType


class ChoiceInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """`?status=PENDING,SCHEDULED`: several values at once, each one checked against the choices."""


class WorkloadFilterSet(django_filters.FilterSet):
    status = ChoiceInFilter(
        choices=WorkloadStatus.choices,
        help_text="Comma-separated statuses; the SPA's Queued is `PENDING,SCHEDULED`.",
    )
    urgency = ChoiceInFilter(choices=Urgency.choices, help_text="Comma-separated urgencies.")
    workload_type = ChoiceInFilter(choices=WorkloadType.choices, help_text="Comma-separated workload types.")
    host_dc = django_filters.UUIDFilter(field_name="host_dc_id", help_text="Host (preferred) zone id.")
    chosen_grid_zone = django_filters.UUIDFilter(field_name="chosen_grid_zone_id", help_text="Chosen zone id.")
    submitted_after = django_filters.IsoDateTimeFilter(field_name="submitted_at", lookup_expr="gte")
    submitted_before = django_filters.IsoDateTimeFilter(field_name="submitted_at", lookup_expr="lt")
    deadline_after = django_filters.IsoDateTimeFilter(field_name="deadline", lookup_expr="gte")
    deadline_before = django_filters.IsoDateTimeFilter(field_name="deadline", lookup_expr="lt")
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
        "`updated_at`; prefix `-` for descending. Default: newest first.",
    )

    class Meta:
        model = ComputeWorkload
        fields: list[str] = []
