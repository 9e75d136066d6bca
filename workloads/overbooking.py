"""Flagging the half hours a zone is held over its capacity.

The ledger refuses every assignment and start that would overbook a zone, but not time: a late start
or an overrun moves holds (``capacity.holds_roll``), and an operator may override. Where the ledger
ends up over a zone's capacity, each overbooked window (a maximal run of consecutive half hours over
capacity in one zone) is flagged once: ``workloads.signals.capacity_overbooked`` is sent, in the
transaction, with what is short and whose work is held there, and the operators of that work are told
(``scheduling.receivers``: the texts and recipients are scheduling's, as for the owners' notices).
``CapacityOverbooking`` remembers the half hours flagged: a window that grows (an overrun running on)
or moves (a late start) is the same overbooking; a half hour no longer over capacity is forgotten,
so a new overbooking there is news again. Runs under the zones' locks, so two rolls never flag twice.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import Any

from django.db import transaction
from django.db.models import Q

from workloads import capacity, signals
from workloads.models import CapacityHold, CapacityOverbooking
from zones.models import GridZone
from zones.providers.base import HALF_HOUR

LABELS = {name: label for name, _, label in capacity.RESOURCES}


def overbooking_roll(*, now: datetime) -> list[tuple]:
    """The periodic step: every zone's moving holds brought up to ``now`` and whatever that leaves
    over capacity flagged, in one transaction. Returns ``capacity.overbooked``."""
    with transaction.atomic():
        over = capacity.holds_roll_everywhere(now=now)
        overbookings_flag(over=over, now=now)
    return over


def overbooking_check(*, zone_id, now: datetime) -> int:
    """After an operator forced work into ``zone_id`` past its capacity: flag it now, not at the
    next roll. Returns how many windows were flagged."""
    with transaction.atomic():
        capacity.zone_lock(zone_id, now=now)
        return overbookings_flag(over=capacity.overbooked(since=now, zone_ids=[zone_id]), now=now, zone_ids=[zone_id])


def overbookings_flag(*, over: list[tuple], now: datetime, zone_ids=None) -> int:
    """Record the half hours of ``over`` (``capacity.overbooked`` of these zones, every zone when
    None, the zones locked), flag each window not flagged before (``signals.capacity_overbooked``),
    and forget the half hours no longer over. Returns how many windows were flagged."""
    cells: dict[tuple, list[tuple]] = defaultdict(list)
    for zone_id, slot_start, resource, held, limit in over:
        cells[(zone_id, slot_start)].append((resource, held, limit))
    told = CapacityOverbooking.objects.all()
    if zone_ids is not None:
        told = told.filter(zone_id__in=list(zone_ids))
    known = set(told.values_list("zone_id", "slot_start"))
    gone = known - set(cells)  # no longer over capacity, or passed
    if gone:
        CapacityOverbooking.objects.filter(
            reduce(operator.or_, (Q(zone_id=zone_id, slot_start=slot) for zone_id, slot in gone))
        ).delete()
    fresh = set(cells) - known
    if not fresh:
        return 0
    CapacityOverbooking.objects.bulk_create(
        [CapacityOverbooking(zone_id=zone_id, slot_start=slot) for zone_id, slot in fresh], ignore_conflicts=True
    )
    # A window that has a half hour told of, or follows straight on from one (an overrun's window
    # gains a half hour as the last one passes), is the overbooking already told.
    news = [
        window
        for window in _windows(cells)
        if not any(key in known for key in window) and (window[0][0], window[0][1] - HALF_HOUR) not in known
    ]
    if not news:
        return 0
    found = _overbookings(news, cells)
    signals.capacity_overbooked.send_robust(sender=CapacityOverbooking, overbookings=found)
    return len(found)


@dataclass(frozen=True)
class Overbooking:
    """One zone's window of consecutive half hours held over capacity, as flagged."""

    zone_id: Any
    zone_name: str
    slots: tuple[datetime, ...]
    #: (resource label, most held in the window, capacity) for each resource over.
    shortages: tuple[tuple[str, float, float], ...]
    #: The job ids of the work held in the window, by organisation id.
    work: dict[Any, tuple[str, ...]]

    def sentence(self) -> str:
        first, last = self.slots[0], self.slots[-1] + HALF_HOUR
        short = "; ".join(
            f"up to {capacity.amount(held)} {label} held against {capacity.amount(limit)} "
            f"({capacity.amount(held - limit)} short)"
            for label, held, limit in self.shortages
        )
        return (
            f"{self.zone_name} is held over its capacity in {len(self.slots)} half hour(s) between "
            f"{capacity.fmt_utc(first)} and {capacity.fmt_utc(last)}: {short}."
        )


def _windows(cells: dict[tuple, list]) -> list[list[tuple]]:
    """The (zone id, half hour) keys of ``cells`` cut into maximal runs of consecutive half hours per zone."""
    windows: list[list[tuple]] = []
    for zone_id, slot in sorted(cells, key=lambda key: (str(key[0]), key[1])):
        last = windows[-1][-1] if windows else None
        if last is not None and last[0] == zone_id and last[1] + HALF_HOUR == slot:
            windows[-1].append((zone_id, slot))
        else:
            windows.append([(zone_id, slot)])
    return windows


def _overbookings(windows: list[list[tuple]], cells: dict[tuple, list]) -> list[Overbooking]:
    """The windows as flagged: two queries however many (the zones are locked while they run)."""
    zone_ids = {zone_id for window in windows for zone_id, _ in window}
    held: dict[tuple, list[tuple]] = defaultdict(list)
    for zone_id, slot_start, organization_id, job_id in CapacityHold.objects.filter(
        zone_id__in=zone_ids, slot_start__in={slot for window in windows for _, slot in window}
    ).values_list("zone_id", "slot_start", "workload__organization_id", "workload__job_id"):
        held[(zone_id, slot_start)].append((organization_id, job_id))
    names = dict(GridZone.objects.filter(pk__in=zone_ids).values_list("pk", "zone_name"))
    return [_overbooking(window, cells, held=held, zone_name=names[window[0][0]]) for window in windows]


def _overbooking(window: list[tuple], cells: dict[tuple, list], *, held: dict, zone_name: str) -> Overbooking:
    worst: dict[str, tuple[float, float]] = {}
    for key in window:
        for resource, held_amount, limit in cells[key]:
            if resource not in worst or held_amount > worst[resource][0]:
                worst[resource] = (held_amount, limit)
    work: dict[Any, set[str]] = defaultdict(set)
    for key in window:
        for organization_id, job_id in held[key]:
            work[organization_id].add(job_id)
    return Overbooking(
        zone_id=window[0][0],
        zone_name=zone_name,
        slots=tuple(slot for _, slot in window),
        shortages=tuple((LABELS[resource], held_amount, limit) for resource, (held_amount, limit) in worst.items()),
        work={organization_id: tuple(sorted(jobs)) for organization_id, jobs in work.items()},
    )
