"""Signals of the zones app: the hook other apps use to react to new carbon data."""

from django.dispatch import Signal

#: Sent once a refresh or an import has committed new readings. ``sender`` is ``GridZone``; the
#: keyword argument ``zone_ids`` lists the ids (UUID) of the zones whose series changed. Receivers
#: run after the commit (the scheduling app recomputes pending workloads there), so they may enqueue
#: tasks and read the new data.
carbon_data_refreshed = Signal()
