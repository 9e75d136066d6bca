"""Telling a database outage from a bug.

``database_unavailable(exc)`` is true for errors that say the database cannot be reached or cannot
serve now (connection refused or lost, server shutting down, too many connections, deadlock,
lock or statement timeout): a client should retry, and the API answers 503 with ``Retry-After``.
Other database errors (a missing table, a bad query) stay what they are, bugs.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

#: SQLSTATE classes and codes of conditions that pass: connection exceptions (08), insufficient
#: resources (53), operator intervention (57: shutdown, cannot connect now, statement timeout),
#: transaction rollbacks (40: serialisation failure, deadlock), lock not available (55P03).
TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57", "40", "55P03")
#: SQLite's messages for the same (another writer holds the file, the file cannot be opened).
TRANSIENT_SQLITE_MESSAGES = (
    "database is locked",
    "database table is locked",
    "unable to open database file",
    "disk i/o error",
)


def database_unavailable(exc: BaseException | None) -> bool:
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith(TRANSIENT_SQLSTATE_PREFIXES)
    if type(cause).__module__.startswith("sqlite3") or cause is None:
        return str(exc).lower().startswith(TRANSIENT_SQLITE_MESSAGES)
    # psycopg raises connection failures without a SQLSTATE (the server never answered).
    return True
