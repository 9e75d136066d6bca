from rest_framework import filters
from rest_framework.exceptions import ValidationError

MAX_SEARCH_LENGTH = 200


class SafeSearchFilter(filters.SearchFilter):
    """DRF's search, with a bound on the term so a megabyte query string is a 400, not a scan."""

    def get_search_terms(self, request):
        raw = request.query_params.get(self.search_param, "")
        if len(raw) > MAX_SEARCH_LENGTH:
            raise ValidationError({self.search_param: [f"Use at most {MAX_SEARCH_LENGTH} characters."]})
        return super().get_search_terms(request)


class StrictOrderingFilter(filters.OrderingFilter):
    """DRF's ordering, but an unknown field is a 400 naming it, not silently ignored (as the
    workloads' django-filter ordering does), so a client's typo does not pass for a sorted list."""

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = super().remove_invalid_fields(queryset, fields, view, request)
        invalid = [term for term in fields if term and term not in valid]
        if invalid:
            allowed = ", ".join(name for name, _ in self.get_valid_fields(queryset, view, {"request": request}))
            raise ValidationError({self.ordering_param: [f"Unknown ordering {', '.join(invalid)}; use {allowed}."]})
        return valid
