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
