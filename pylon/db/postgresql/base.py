"""Django's PostgreSQL backend with a health check that costs no round trip when nothing is wrong.

``CONN_HEALTH_CHECKS`` makes Django test a persistent connection before each request's first query
with ``SELECT 1``: a round trip on every request, a sixth of a cursor page's queries. A connection
the server (or anything between) has closed says so on its socket — PostgreSQL sends a FATAL error
and the kernel a FIN — so an idle connection whose socket has nothing to read is usable as it is;
only one with something pending (or not idle) gets Django's full ``SELECT 1`` check, and fails it.
A peer that vanishes without a word defeats ``SELECT 1`` as much as this (both wait for TCP).
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE or _has_pending_input(connection):
            return super().is_usable()
        return True


def _has_pending_input(connection) -> bool:
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
