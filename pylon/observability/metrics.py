"""The project-wide Prometheus metrics (prometheus-client). Apps define their own beside their code
(``scheduling.metrics``); figures read at scrape time come from collectors (``collectors``).

Under gunicorn several processes serve requests: with ``PROMETHEUS_MULTIPROC_DIR`` set in the
environment before start (``docker/entrypoint.sh`` does), prometheus-client writes every process's
samples to files there and ``/metrics`` aggregates them (README, "Operations").
"""

from prometheus_client import Counter, Histogram

#: Latency buckets of an API request, in seconds: from a cached read to a slow export.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Task run-time buckets, in seconds: from a notification to a whole recompute.
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

http_requests = Counter(
    "pylon_http_requests",
    "HTTP requests answered, by route (the URL pattern, not the raw path), method and status.",
    ["route", "method", "status"],
)
http_request_duration = Histogram(
    "pylon_http_request_duration_seconds",
    "Time from receiving a request to returning its response, by route and method.",
    ["route", "method"],
    buckets=REQUEST_BUCKETS,
)
celery_tasks = Counter(
    "pylon_celery_tasks",
    "Celery tasks finished, by task name and outcome (success, failure, retry, revoked).",
    ["task", "outcome"],
)
celery_task_duration = Histogram(
    "pylon_celery_task_duration_seconds",
    "Run time of a Celery task, by task name and outcome.",
    ["task", "outcome"],
    buckets=TASK_BUCKETS,
)
cache_fail_open = Counter(
    "pylon_cache_fail_open",
    "Cache operations that failed (Redis down or frozen) or were skipped while it is down, and so "
    "degraded open: throttles let the request through, locks are not held.",
    ["operation"],
)
idempotent_replays = Counter(
    "pylon_idempotent_replays",
    "Requests answered from a stored response because their Idempotency-Key was seen before.",
)
