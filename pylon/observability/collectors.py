"""Figures read when Prometheus scrapes (queue depth, outbox backlog, data age), from sources that
apps register (``register``). A source that fails is logged and counted; the scrape still answers."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from prometheus_client import multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry

logger = logging.getLogger(__name__)

Source = Callable[[], Iterable[Metric]]
_sources: dict[str, Source] = {}
_failures: dict[str, int] = {}


def register(name: str, source: Source) -> None:
    """Add (or replace) a scrape-time source; ``name`` labels its failures."""
    _sources[name] = source


class ScrapeTimeCollector(Collector):
    def describe(self) -> Iterable[Metric]:
        return []  # so registering does not run the sources (they query the database)

    def collect(self) -> Iterable[Metric]:
        for name, source in list(_sources.items()):
            try:
                metrics = list(source())
            except Exception as exc:  # one broken source must not hide the others
                logger.warning("metrics source %s failed: %s", name, exc)
                _failures[name] = _failures.get(name, 0) + 1
                continue
            yield from metrics
        failures = CounterMetricFamily(
            "pylon_metrics_source_failures", "Scrape-time metric sources that failed, by source.", labels=["source"]
        )
        for name in _sources:
            failures.add_metric([name], _failures.get(name, 0))
        yield failures


COLLECTOR = ScrapeTimeCollector()


def scrape_registry():
    """What a scrape reads: with ``PROMETHEUS_MULTIPROC_DIR`` set, the samples every process of this
    host wrote there (gunicorn workers, prefork Celery children) plus the scrape-time sources; else
    this process's default registry (which has the sources installed)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(COLLECTOR)
        return registry
    return REGISTRY


_installed = False


def install() -> None:
    """Serve the sources from prometheus-client's default registry (once per process)."""
    global _installed
    if not _installed:
        REGISTRY.register(COLLECTOR)
        _installed = True


def gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)
