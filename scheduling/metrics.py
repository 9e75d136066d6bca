"""Prometheus metrics of scheduling runs (``recommendations_compute`` as the tasks run it)."""

from prometheus_client import Counter, Histogram

run_duration = Histogram(
    "pylon_scheduling_run_duration_seconds",
    "Time one scheduling run (a chunk of pending workloads) took.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
run_workloads = Histogram(
    "pylon_scheduling_run_workloads",
    "Workloads considered by one scheduling run.",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 5000),
)
workload_outcomes = Counter(
    "pylon_scheduling_workloads",
    "Workloads through scheduling runs, by outcome: computed, skipped (no longer pending), unschedulable, "
    "auto_assigned.",
    ["outcome"],
)


def observe_run(*, seconds: float, considered: int, report) -> None:
    run_duration.observe(seconds)
    run_workloads.observe(considered)
    for outcome, count in (
        ("computed", report.computed),
        ("skipped", report.skipped),
        ("unschedulable", report.unschedulable),
        ("auto_assigned", len(report.auto_assigned)),
    ):
        workload_outcomes.labels(outcome=outcome).inc(count)
