import django_filters

from accounts.models import AuditAction, AuditEntry, Role, User
from pylon.api.filters import PylonFilterSet


class MemberFilterSet(PylonFilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = User
        fields = ["role", "is_active"]


class AuditEntryFilterSet(PylonFilterSet):
    action = django_filters.ChoiceFilter(choices=AuditAction.choices)
    target = django_filters.UUIDFilter(field_name="target_id", help_text="Changes to this member.")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields = ["action", "target", "created_after", "created_before"]
