import django_filters

from accounts.models import Role, User
from pylon.api.filters import PylonFilterSet


class MemberFilterSet(PylonFilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = User
        fields = ["role", "is_active"]
