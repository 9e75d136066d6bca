"""One pagination for every list: page numbers as before, and cursors where page numbers stop scaling.

The contract integrators' SDKs were generated from is kept: the body is still ``count``, ``next``,
``previous``, ``results``, and ``?page=N`` still works everywhere, exactly as before (``COUNT`` and
``OFFSET``: fine for short lists, slower the deeper the page). What changed is where ``next`` points.
When a list is ordered by a non-null time (``submitted_at``, ``created_at``, …, then the id — the
default order of every long list), or by an order of several keys its view set (the scheduling
queue's: urgency, deadline with NULLs last, submission time, id), the first page's ``next`` is a
``?cursor=`` link, as Stripe and GitHub paginate: the following pages are read by keyset (``WHERE
(time, id) < (…) LIMIT n`` on an index, or its chain of ORs where a key may be NULL), never counted,
never offset, so page 2,000 costs what page 2 does. The ``count`` is taken
once, on the first page, and carried in the cursor: it is the number of rows when the listing
started. Clients that follow ``next`` get cursors without a change; clients that build ``?page=N``
themselves keep getting page numbers.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import orjson
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator as DjangoPaginator
from django.db import models
from django.db.models import F, OrderBy, Q
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from pylon.db import compiled as compiled_reads

CURSOR_DESCRIPTION = (
    "Opaque position from a `next` or `previous` link of a list in an order it pages by cursor (the default "
    "order of long lists). Pages read by cursor are not counted again: their `count` is the one of the first "
    "page. Cannot be combined with `page`; a cursor is only valid with the `ordering` it was issued for."
)


#: A key of a keyset: the field's name, whether it is descending, whether it may be NULL (then it is
#: ascending with NULLs last, PostgreSQL's default for an ascending index).
Key = tuple[str, bool, bool]

_CURSOR_FIELDS = (models.DateTimeField, models.IntegerField, models.UUIDField)


def _keyset(queryset: models.QuerySet) -> list[Key] | None:
    """The keys of the queryset's order when it can be paged by keyset, else ``None``: a non-null
    date-time field then the primary key to break ties (the default order of long lists), or an
    order of three or more fields the view set itself — date-times, integers, the id — whose first is
    not null and whose last is the primary key (the scheduling queue's)."""
    ordering = list(
        queryset.query.order_by or (queryset.model._meta.ordering if queryset.query.default_ordering else [])
    )
    if len(ordering) > 2:
        return _declared_keyset(queryset.model, ordering)
    if not ordering or not all(isinstance(term, str) for term in ordering):
        return None
    name, descending = ordering[0].lstrip("-"), ordering[0].startswith("-")
    try:
        field = queryset.model._meta.get_field(name)
    except FieldDoesNotExist:  # an annotation or a relation path: not pageable by keyset
        return None
    if not isinstance(field, models.DateTimeField) or field.null:
        return None
    pk = queryset.model._meta.pk.name
    if len(ordering) == 1:
        tie_descending = descending
    elif ordering[1].lstrip("-") in (pk, "pk"):
        tie_descending = ordering[1].startswith("-")
    else:
        return None
    return [(name, descending, False), (pk, tie_descending, False)]


def _declared_keyset(model: type[models.Model], ordering: list) -> list[Key] | None:
    keys = []
    for term in ordering:
        if isinstance(term, str):
            name, descending, nulls_last = term.lstrip("-"), term.startswith("-"), False
        elif isinstance(term, OrderBy) and isinstance(term.expression, F) and not term.nulls_first:
            name, descending, nulls_last = term.expression.name, term.descending, bool(term.nulls_last)
        else:
            return None
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if field.is_relation or not isinstance(field.output_field if field.generated else field, _CURSOR_FIELDS):
            return None
        if field.null and (descending or not nulls_last):  # NULLs must sort where an ascending index has them
            return None
        keys.append((name, descending, field.null))
    if keys[0][2] or keys[-1][0] != model._meta.pk.name:
        return None
    return keys


def _order_terms(keys: list[Key], *, reverse: bool) -> list:
    terms: list = []
    for name, descending, nullable in keys:
        if nullable:  # ascending, NULLs last; reversed, descending with NULLs first
            terms.append(F(name).desc(nulls_first=True) if reverse else F(name).asc(nulls_last=True))
        else:
            terms.append(("-" if descending != reverse else "") + name)
    return terms


def _ordering_label(keys: list[Key]) -> str:
    return ",".join(("-" if descending else "") + name for name, descending, _ in keys)


def _after(keys: list[Key], position: list[Any], *, reverse: bool) -> tuple[Q, list[Any]]:
    """Rows strictly after ``position`` in the (possibly reversed) order, and the values the
    condition binds, in the order its SQL binds them. The first term is an index bound on the first
    key alone, so the scan starts at the position instead of filtering up to it. A NULL sorts after
    every value of its (ascending) key; a row comparison would not say so, hence the chain of ORs."""
    (first, first_desc, _), value = keys[0], position[0]
    op = "lt" if first_desc != reverse else "gt"
    rest, rest_params = _after_from(keys, position, 1, reverse=reverse)
    bound = Q(**{f"{first}__{op}e": value})
    return bound & (Q(**{f"{first}__{op}": value}) | rest), [value, value, *rest_params]


def _after_from(keys: list[Key], position: list[Any], index: int, *, reverse: bool) -> tuple[Q, list[Any]]:
    """Rows after ``position`` among those equal to it on every key before ``index``."""
    name, descending, nullable = keys[index]
    value = position[index]
    last = index == len(keys) - 1
    rest, rest_params = (None, []) if last else _after_from(keys, position, index + 1, reverse=reverse)
    if not nullable:
        op = "lt" if descending != reverse else "gt"
        beyond = Q(**{f"{name}__{op}": value})
        if last:
            return beyond, [value]
        return beyond | (Q(**{name: value}) & rest), [value, value, *rest_params]
    # Ascending with NULLs last: after a value come the greater values, then the NULLs.
    if value is None:
        if reverse:  # before a NULL: every value, then the NULLs before it
            return Q(**{f"{name}__isnull": False}) | (Q(**{f"{name}__isnull": True}) & rest), rest_params
        return Q(**{f"{name}__isnull": True}) & rest, rest_params
    if reverse:
        return Q(**{f"{name}__lt": value}) | (Q(**{name: value}) & rest), [value, value, *rest_params]
    return (
        Q(**{f"{name}__gt": value}) | Q(**{f"{name}__isnull": True}) | (Q(**{name: value}) & rest),
        [value, value, *rest_params],
    )


@dataclass(frozen=True)
class CompiledScope:
    """What a view hands the paginator instead of its queryset for a page read by compiled SQL
    (``pylon.db.compiled``): the selector's scoped queryset, built only when a shape is first seen,
    and what its SQL depends on. The paginator adds the keyset, order and limit. Only for views that
    set ``columns`` and for requests with no filter; a ``?page=`` request reads the queryset as usual."""

    model: type[models.Model]
    #: Everything the scoped queryset's SQL depends on besides its parameters (selector, scope columns).
    shape: tuple
    #: The scope's parameters, in the order its SQL binds them.
    params: list
    queryset: Callable[[], models.QuerySet]

    def keys(self) -> list[Key] | None:
        if self.shape not in _SCOPE_KEYS:
            _SCOPE_KEYS[self.shape] = _keyset(self.queryset())
        return _SCOPE_KEYS[self.shape]


_SCOPE_KEYS: dict[tuple, list[Key] | None] = {}


def list_source(view, *, name: str, scope: dict[str, Any]) -> CompiledScope | models.QuerySet:
    """What a list view that reads ``values()`` rows hands its paginator: for a request that asks
    for nothing but a page, a ``CompiledScope`` of the view's scoped queryset, whose SQL depends on
    the caller only through ``scope`` (the selector's column lookups, named by ``name``); for any
    other request the scoped queryset with the view's filters, read by the ORM."""
    if view.paginator.names_only_pages(view.request):
        return CompiledScope(
            model=view.model, shape=(name, *scope), params=list(scope.values()), queryset=view.get_queryset
        )
    return view.filter_queryset(view.get_queryset())


def _value(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else getattr(row, name)


class _ColumnsPaginator(DjangoPaginator):
    """Django's paginator, reading the page's rows as ``values(*columns)`` when columns are given
    (the count is taken on the queryset as it is, without the page's joins)."""

    def __init__(self, object_list, per_page, *, columns=None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.columns = columns

    def _get_page(self, object_list, number, paginator):
        if self.columns:
            object_list = object_list.values(*self.columns)
        return super()._get_page(object_list, number, paginator)


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=`` and ``?page_size=`` (1 to 100), and — on views that set ``cursor_paginated`` —
    ``?cursor=`` from the ``next``/``previous`` links while they are ordered by time (see the module's
    docstring). The body always carries ``count``.

    A ``page_size`` that is not a whole number from 1 to 100 is a 400 naming it: DRF's own pagination
    silently falls back to the default, so a client's ``page_size=500`` would pass for "all rows".
    """

    page_size_query_param = "page_size"
    max_page_size = 100
    cursor_query_param = "cursor"
    #: Set by a view before paginating to read the page as plain ``values()`` rows (a fast output path).
    columns: tuple[str, ...] | None = None

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Send a whole number from 1 to {self.max_page_size}."]}
            )
        return size

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        paginated["required"] = ["count", "next", "previous", "results"]  # every page has all four
        return paginated

    def django_paginator_class(self, object_list, per_page, **kwargs):
        return _ColumnsPaginator(object_list, per_page, columns=self.columns, **kwargs)

    def paginate_queryset(self, queryset, request, view=None):
        self.keys = None
        compiled = queryset if isinstance(queryset, CompiledScope) else None
        if compiled is not None and (
            not (self.columns and getattr(view, "cursor_paginated", False))
            or self.page_query_param in request.query_params
        ):
            queryset, compiled = compiled.queryset(), None
        if not getattr(view, "cursor_paginated", False):
            return super().paginate_queryset(queryset, request, view)
        raw_cursor = request.query_params.get(self.cursor_query_param)
        if raw_cursor is not None and self.page_query_param in request.query_params:
            raise ValidationError({self.cursor_query_param: ["Send either `cursor` or `page`, not both."]})
        if compiled is not None:
            keys = compiled.keys()
        else:
            keys = _keyset(queryset) if self.page_query_param not in request.query_params else None
        if raw_cursor is not None and keys is None:
            raise ValidationError({self.cursor_query_param: ["This list's ordering cannot be paged by cursor."]})
        if keys is None:
            return super().paginate_queryset(compiled.queryset() if compiled else queryset, request, view)
        self.keys, self.request = keys, request
        self.page_size_now = self.get_page_size(request)
        model = compiled.model if compiled else queryset.model
        cursor = self._decode(raw_cursor, keys, model) if raw_cursor is not None else None
        self.reverse = bool(cursor and cursor["r"])
        if compiled is not None:
            rows = self._compiled_page(compiled, keys, cursor)
        else:
            rows = self._page(queryset, keys, cursor)
        self.has_more = len(rows) > self.page_size_now
        rows = rows[: self.page_size_now]
        if self.reverse:
            rows.reverse()
            self.has_more, self.has_previous = True, self.has_more
        self.rows = rows
        return rows

    def _page(self, queryset, keys, cursor) -> list:
        if cursor is None:
            self.count, self.has_previous = queryset.count(), False
        else:
            self.count, self.has_previous = cursor["c"], True
            queryset = queryset.filter(_after(keys, cursor["p"], reverse=self.reverse)[0])
        page = queryset.order_by(*_order_terms(keys, reverse=self.reverse))[: self.page_size_now + 1]
        return list(page.values(*self.columns) if self.columns else page)

    def _compiled_page(self, compiled: CompiledScope, keys, cursor) -> list[dict]:
        """``_page`` for a ``CompiledScope``: the same queries, by SQL compiled once per shape."""
        if cursor is None:
            self.count = compiled_reads.count((*compiled.shape, "count"), compiled.params, compiled.queryset)
            self.has_previous, after, position = False, None, []
        else:
            self.count, self.has_previous = cursor["c"], True
            after, position = _after(keys, cursor["p"], reverse=self.reverse)

        def page():
            queryset = compiled.queryset()
            if after is not None:
                queryset = queryset.filter(after)
            page = queryset.order_by(*_order_terms(keys, reverse=self.reverse))[: self.page_size_now + 1]
            return page.values(*self.columns)

        # Where a key is NULL the condition has another form (``IS NULL`` instead of a comparison).
        nulls = None if cursor is None else tuple(value is None for value in cursor["p"])
        shape = (*compiled.shape, "page", self.columns, self.page_size_now, nulls, self.reverse)
        return compiled_reads.values(shape, [*compiled.params, *position], page)

    def names_only_pages(self, request) -> bool:
        """Whether the request asks for nothing but a page (no filter, search or ordering): what a
        ``CompiledScope`` may serve."""
        return set(request.query_params) <= {self.page_size_query_param, self.cursor_query_param}

    def get_paginated_response(self, data):
        if self.keys is None:
            return super().get_paginated_response(data)
        return Response(
            {
                "count": self.count,
                "next": self._link(-1, self.has_more),
                "previous": self._link(0, self.has_previous),
                "results": data,
            }
        )

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
                parameter["description"] = f"Rows per page, 1 to {self.max_page_size} (default {self.page_size})."
        if not getattr(view, "cursor_paginated", False):
            return parameters
        return [
            *parameters,
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": CURSOR_DESCRIPTION,
                "schema": {"type": "string"},
            },
        ]

    # -- cursors ----------------------------------------------------------------------------------

    def _link(self, index: int, wanted: bool) -> str | None:
        if not wanted or not self.rows:
            return None
        row = self.rows[index]
        position = [_value(row, name) for name, _, _ in self.keys]
        cursor = encode_cursor(self.keys, position, reverse=index == 0, count=self.count)
        # DRF's ``replace_query_param(remove_query_param(url, page), cursor, …)``, with the request's
        # URL parsed once for both links rather than twice for each.
        if getattr(self, "_link_parts", (None,))[0] is not self.request:
            scheme, netloc, path, query, fragment = urlsplit(self.request.build_absolute_uri())
            params = parse_qs(query, keep_blank_values=True)
            params.pop(self.page_query_param, None)
            self._link_parts = (self.request, scheme, netloc, path, params, fragment)
        _, scheme, netloc, path, params, fragment = self._link_parts
        query = urlencode(sorted({**params, self.cursor_query_param: [cursor]}.items()), doseq=True)
        return urlunsplit((scheme, netloc, path, query, fragment))

    def _decode(self, raw: str, keys: list[Key], model) -> dict[str, Any]:
        refused = ValidationError({self.cursor_query_param: ["Not a cursor this list issued."]})
        try:
            cursor = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            values, reverse, count, ordering = cursor["p"], bool(cursor["r"]), max(int(cursor["c"]), 0), cursor["o"]
            if ordering != _ordering_label(keys):
                raise ValidationError({self.cursor_query_param: ["This cursor was issued for another ordering."]})
            if not isinstance(values, list) or len(values) != len(keys):
                raise refused
            position = [_from_cursor(model, key, value) for key, value in zip(keys, values, strict=True)]
        except (ValueError, KeyError, TypeError, binascii.Error, DjangoValidationError):
            raise refused from None
        return {"p": position, "r": reverse, "c": count}


def _from_cursor(model, key: Key, value: Any) -> Any:
    """A key's value from a cursor's JSON; ``ValueError`` unless it is one this key can hold."""
    name, _, nullable = key
    if value is None:
        if nullable:
            return None
        raise ValueError(name)
    field = model._meta.get_field(name)
    field = field.output_field if field.generated else field
    if isinstance(field, models.DateTimeField):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError(name)
        return parsed
    if isinstance(field, models.IntegerField):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(name)
        return value
    return field.to_python(value)


def _to_cursor(value: Any) -> Any:
    if value is None or isinstance(value, int):
        return value
    return value.isoformat() if isinstance(value, datetime) else str(value)


def encode_cursor(keys: list[Key], position: list[Any], *, reverse: bool, count: int) -> str:
    payload = {
        "o": _ordering_label(keys),
        "p": [_to_cursor(value) for value in position],
        "r": int(reverse),
        "c": count,
    }
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")
