"""Scrape-time figures of the zones app: how old each provider's data is."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone
from prometheus_client.core import Metric

from pylon.observability.collectors import gauge
from zones import selectors


def provider_data_age() -> Iterable[Metric]:
    age = gauge(
        "pylon_carbon_data_age_seconds",
        "Age of the stalest zone's current figures, per carbon-data provider (never updated: no sample).",
        ["provider"],
    )
    stale = gauge("pylon_carbon_stale_zones", "Zones whose figures are older than the stale limit.", ["provider"])
    now = timezone.now()
    for row in selectors.provider_freshness(now=now):
        if row.oldest_update is not None:
            age.add_metric([row.provider], (now - row.oldest_update).total_seconds())
        stale.add_metric([row.provider], row.stale_zones)
    return [age, stale]
