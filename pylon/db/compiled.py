"""Reads whose SQL is compiled once per shape and run as prepared statements (PostgreSQL).

Building and compiling a list's querysets costs Python several times what PostgreSQL takes to run
them, and planning a statement costs PostgreSQL more than executing it. A read through this module
pays both once per process and connection: the first time a *shape* is seen the ORM runs the query
itself, from the selector's queryset, and the SQL it ran is kept; later reads of that shape send the
same SQL with their own parameters to a statement the connection prepared. The SQL is always the
selector's own, so the scoping stays where it is decided.

A shape names everything the SQL depends on besides its parameters (which selector, which scope
columns, the order, the limit); the parameters are given in the order the SQL binds them, and the
SQL is kept only if the ORM bound exactly those. Elsewhere than on PostgreSQL the ORM runs every time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from django.db import connection
from django.db.models import Model, QuerySet

_statements: dict[Hashable, str] = {}


class _Capture:
    """An execute wrapper that records the statements the ORM runs and their column names."""

    def __init__(self):
        self.statements: list[tuple[str, list]] = []

    def __call__(self, execute, sql, params, many, context):
        self.statements.append((sql, list(params or ())))
        return execute(sql, params, many, context)


def _compiled() -> bool:
    return hasattr(connection, "prepared_cursor")


def _run(run_orm: Callable[[], Any], shape: Hashable, params: list) -> Any:
    capture = _Capture()
    with connection.execute_wrapper(capture):
        result = run_orm()
    if len(capture.statements) == 1 and capture.statements[0][1] == params:
        _statements[shape] = capture.statements[0][0]
    return result


def _execute(sql: str, params: list):
    cursor = connection.prepared_cursor()  # the connection's own, kept open for the next read
    cursor.execute(sql, params)
    return [column.name for column in cursor.description], cursor.fetchall()


def values(shape: Hashable, params: list, queryset: Callable[[], QuerySet]) -> list[dict[str, Any]]:
    """``list(queryset())`` of a ``values()`` queryset (on PostgreSQL, whose backend converts
    nothing a ``values()`` row holds, the cursor's rows are the same dicts)."""
    if not _compiled():
        return list(queryset())
    sql = _statements.get(("values", shape))
    if sql is None:
        return _run(lambda: list(queryset()), ("values", shape), params)
    names, rows = _execute(sql, params)
    return [dict(zip(names, row, strict=True)) for row in rows]


def count(shape: Hashable, params: list, queryset: Callable[[], QuerySet]) -> int:
    """``queryset().count()``."""
    if not _compiled():
        return queryset().count()
    sql = _statements.get(("count", shape))
    if sql is None:
        return _run(lambda: queryset().count(), ("count", shape), params)
    return _execute(sql, params)[1][0][0]


def instances(model: type[Model], shape: Hashable, params: list, queryset: Callable[[], QuerySet]) -> list[Model]:
    """``list(queryset())`` of a plain queryset of ``model`` (every concrete field, nothing joined)."""
    if not _compiled():
        return list(queryset())
    sql = _statements.get(("instances", shape))
    if sql is None:
        return _run(lambda: list(queryset()), ("instances", shape), params)
    fields = model._meta.concrete_fields
    names, rows = _execute(sql, params)
    if names != [field.column for field in fields]:  # not the plain row ``from_db`` reads: the ORM's way
        return list(queryset())
    attnames = [field.attname for field in fields]
    return [model.from_db(connection.alias, attnames, row) for row in rows]
