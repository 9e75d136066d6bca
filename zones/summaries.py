"""The zones' summaries (``GridZoneSummarySerializer``'s fields) as lists name them, kept in process.

A workloads page names up to five zones per row. Zones are a short table of regions whose names and
codes hardly ever change, so a process keeps their summaries and a page reads none of them from the
database: all are read again (one query, every zone) when a page names a zone the process has not
seen, when the copy is older than ``MAX_AGE_SECONDS``, or when this process saves or deletes a zone.
A rename made by another process shows there within ``MAX_AGE_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from django.db.models.signals import post_delete, post_save

from zones import selectors
from zones.models import GridZone

MAX_AGE_SECONDS = 60.0
FIELDS = ("id", "zone_id", "zone_name", "grid_zone_code")

_lock = threading.Lock()
_summaries: dict[Any, dict[str, Any]] = {}
_read_at = float("-inf")


def zone_summaries(*, ids: Iterable[Any]) -> dict[Any, dict[str, Any]]:
    """The summaries of the zones ``ids`` names, by id (at most one query: every zone's)."""
    global _summaries, _read_at
    wanted = set(ids) - {None}
    if not wanted:
        return {}
    if time.monotonic() - _read_at > MAX_AGE_SECONDS or not wanted <= _summaries.keys():
        fresh = {zone["id"]: zone for zone in selectors.zone_list().order_by().values(*FIELDS)}
        with _lock:
            _summaries, _read_at = fresh, time.monotonic()
    return _summaries


def forget(**kwargs) -> None:
    """Drop the kept summaries (a zone was saved or deleted in this process)."""
    global _read_at
    with _lock:
        _read_at = float("-inf")


post_save.connect(forget, sender=GridZone, dispatch_uid="zones.summaries.forget.save")
post_delete.connect(forget, sender=GridZone, dispatch_uid="zones.summaries.forget.delete")
