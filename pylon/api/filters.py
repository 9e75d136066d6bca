import django_filters
from django_filters.filters import BaseCSVFilter
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters
from rest_framework.exceptions import ValidationError

MAX_SEARCH_LENGTH = 200
#: What a boolean query parameter may say (django-filter's BooleanWidget reads these, any case). Anything
#: else, ``null`` included, would otherwise read as "no filter" and return every row.
BOOLEAN_VALUES = frozenset({"true", "false", "1", "0"})


class SafeSearchFilter(filters.SearchFilter):
    """DRF's search, with a bound on the term so a megabyte query string is a 400, not a scan."""

    def get_search_terms(self, request):
        raw = request.query_params.get(self.search_param, "")
        if len(raw) > MAX_SEARCH_LENGTH:
            raise ValidationError({self.search_param: [f"Use at most {MAX_SEARCH_LENGTH} characters."]})
        return super().get_search_terms(request)


def join_repeated(query_params, name: str) -> str | None:
    """``?x=a&x=b`` and ``?x=a,b`` mean the same: generated clients send the first (OpenAPI's default,
    ``explode: true``), people type the second. Django keeps only the last of repeated values."""
    values = query_params.getlist(name) if hasattr(query_params, "getlist") else [query_params.get(name)]
    values = [value for value in values if value is not None]
    return ",".join(values) if values else None


class StrictOrderingFilter(filters.OrderingFilter):
    """DRF's ordering, but an unknown field is a 400 naming it, not silently ignored (as the
    workloads' django-filter ordering does), so a client's typo does not pass for a sorted list.
    Repeated parameters count like comma-separated ones, and the schema lists the allowed values."""

    def get_ordering(self, request, queryset, view):
        params = join_repeated(request.query_params, self.ordering_param)
        if params:
            fields = [param.strip() for param in params.split(",")]
            ordering = self.remove_invalid_fields(queryset, fields, view, request)
            if ordering:
                return ordering
        return self.get_default_ordering(view)

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = super().remove_invalid_fields(queryset, fields, view, request)
        invalid = [term for term in fields if term and term not in valid]
        if invalid:
            allowed = ", ".join(name for name, _ in self.get_valid_fields(queryset, view, {"request": request}))
            raise ValidationError({self.ordering_param: [f"Unknown ordering {', '.join(invalid)}; use {allowed}."]})
        return valid

    def get_schema_operation_parameters(self, view):
        fields = [name for name, _ in self.get_valid_fields(view.get_queryset(), view, {"request": None})]
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": f"Order by {', '.join(f'`{name}`' for name in fields)}; prefix `-` for descending. "
                "Several fields: repeat the parameter (or separate them with commas).",
                "schema": {
                    "type": "array",
                    "items": {"type": "string", "enum": sorted(fields + [f"-{f}" for f in fields])},
                },
            }
        ]


UPDATED_SINCE_HELP = (
    "Only rows changed at or after this time (ISO 8601; without an offset, UTC): poll with the time of the "
    "previous answer's newest change, and get only what changed since. Inclusive, so nothing changed at that "
    "same instant is missed (a row may come twice)."
)


def updated_since_filter(field_name: str = "updated_at", method: str | None = None) -> django_filters.Filter:
    """The ``updated_since`` filter every pollable list offers, on the field that moves when a row changes."""
    if method is not None:
        return django_filters.IsoDateTimeFilter(method=method, help_text=UPDATED_SINCE_HELP)
    return django_filters.IsoDateTimeFilter(field_name=field_name, lookup_expr="gte", help_text=UPDATED_SINCE_HELP)


class PylonFilterSet(django_filters.FilterSet):
    """The project's filter sets: multi-value filters take repeated and comma-separated values alike,
    and a filter sent empty (``?submitted_before=``) or a boolean that is not one (``?is_active=null``)
    is a 400 naming the parameter like a malformed one, not ignored."""

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and hasattr(data, "getlist"):
            data = data.copy()
            for name, declared in self.base_filters.items():
                if isinstance(declared, BaseCSVFilter) and len(data.getlist(name)) > 1:
                    data[name] = join_repeated(data, name)
        super().__init__(data, *args, **kwargs)

    def is_valid(self):
        valid = super().is_valid()
        for name, declared in self.filters.items():
            if isinstance(declared, django_filters.CharFilter) or not hasattr(self.data, "getlist"):
                continue
            values = self.data.getlist(name)
            if values and all(value == "" for value in values):
                self.form.add_error(name, "Give a value, or leave the parameter out.")
                valid = False
            elif isinstance(declared, django_filters.BooleanFilter) and any(
                value.lower() not in BOOLEAN_VALUES for value in values
            ):
                self.form.add_error(name, "Use `true` or `false`.")
                valid = False
        return valid


class FilterBackend(DjangoFilterBackend):
    """django-filter, skipped when the request names none of the filters: a FilterSet builds and
    validates a form (deep copies of every field) on each request, a fifth of a list's time, to do
    nothing when no filter is asked for. Names are matched as prefixes so that multi-widget filters
    (``x_min``/``x_max``) still count as asked."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            names = tuple(filterset_class.base_filters)
            if not any(key.startswith(names) for key in request.query_params):
                return queryset
        return super().filter_queryset(request, queryset, view)
