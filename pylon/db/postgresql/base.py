"""Django's PostgreSQL backend with a health check that costs no round trip when nothing is wrong,
and cursors whose statements the server prepares (for ``pylon.db.compiled``).

``CONN_HEALTH_CHECKS`` makes Django test a persistent connection before each request's first query
with ``SELECT 1``: a round trip on every request, a sixth of a cursor page's queries. A connection
the server (or anything between) has closed says so on its socket — PostgreSQL sends a FATAL error
and the kernel a FIN — so an idle connection whose socket has nothing to read is usable as it is;
only one with something pending (or not idle) gets Django's full ``SELECT 1`` check, and fails it.
A peer that vanishes without a word defeats ``SELECT 1`` as much as this (both wait for TCP).
"""

from __future__ import annotations

import select

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base
from psycopg import pq
from psycopg.types.datetime import TimestamptzLoader

#: A ``prepare_threshold`` no statement reaches: psycopg prepares only what asks to be (``prepare=True``).
NEVER_BY_COUNT = 2**31


class PreparedCursor(psycopg.Cursor):
    """Binds parameters on the server and prepares every statement it runs: the connection plans
    a statement once (psycopg keeps the last ``prepared_max`` of them) and then only executes it.
    Django's own cursors bind on the client, where nothing can be prepared."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


class DatabaseOperations(base.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        # What Django's query log and ``assertNumQueries`` show: a prepared statement keeps no text of
        # its own on the cursor, so it is written out from the SQL and parameters, as Django does for
        # server-side binding.
        if isinstance(cursor, PreparedCursor):
            return self.compose_sql(sql, params)
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE or _has_pending_input(connection):
            return super().is_usable()
        return True

    _prepared: PreparedCursor | None = None

    def prepared_cursor(self):
        """A ``PreparedCursor`` with what ``cursor()`` gives (health check, connection, error
        wrapping, query logging, execute wrappers); one per connection, reused (do not close it).
        Times are read by psycopg's C loader: Django's own (Python) loader only pins the UTC zone
        that the session already has."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            cursor = self._prepared
            if cursor is None or cursor.closed or cursor.connection is not self.connection:
                if self.connection.prepare_threshold is None:
                    # Django's default turns preparing off altogether (even when asked); its own
                    # cursors bind on the client and never prepare, so only ours is affected.
                    self.connection.prepare_threshold = NEVER_BY_COUNT
                cursor = self._prepared = PreparedCursor(self.connection)
                if settings.USE_TZ and self.timezone_name == "UTC":
                    cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
            return self._prepare_cursor(cursor)


def _has_pending_input(connection) -> bool:
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
