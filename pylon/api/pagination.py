from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=`` and ``?page_size=`` (at most 100); the body carries the total ``count``."""

    page_size_query_param = "page_size"
    max_page_size = 100
