"""``python manage.py benchmark_batch_upload [--rows 5000]``

The time to submit ``--rows`` workloads in one batch (``POST /api/v1/workloads/batch/``, a JSON
array) against the same rows as single submits (``POST /api/v1/workloads/``), through Django's test
client with a real JWT: the whole request path, on whatever database is configured. Target: the
batch at least 20× faster. The scheduling task each submission enqueues runs on commit; both sides
are rolled back, so neither's runs (they are the same engine work, once per request).

Everything happens in one transaction that is rolled back: the database is left as it was.
It prints figures; it is not a timed test.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from pylon.benchmarks import benchmark_member, benchmark_zone, rolled_back, sign_in
from workloads.models import ComputeWorkload


class Command(BaseCommand):
    help = "Time one batch upload against the same workloads as single submits."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=5000)

    def handle(self, *args, **options):
        rows = options["rows"]
        if not 1 <= rows <= 5000:
            raise CommandError("--rows must be between 1 and 5000 (the batch limit).")
        with override_settings(ALLOWED_HOSTS=["testserver"]), rolled_back():
            self._run(rows)

    def _run(self, n: int) -> None:
        user = benchmark_member()
        zone = benchmark_zone()
        client = APIClient()
        sign_in(client, user)
        deadline = (timezone.now() + timedelta(days=2)).isoformat()
        rows = [
            {
                "workload_name": f"bench {i}",
                "host_dc": str(zone.pk),
                "required_gpu_mins": "120",
                "required_cpu_cores": 8,
                "required_memory_gb": "64",
                "deferral_window_mins": 240,
                "deadline": deadline,
            }
            for i in range(n)
        ]

        began = time.perf_counter()
        response = client.post("/api/v1/workloads/batch/", rows, format="json")
        batch_seconds = time.perf_counter() - began
        if response.status_code != 201 or response.json()["created"] != n:
            raise CommandError(f"The batch failed: {response.status_code} {response.content[:300]!r}")

        began = time.perf_counter()
        for i, row in enumerate(rows):
            if i % 500 == 499:  # an access token lives minutes; 5,000 single POSTs take longer
                sign_in(client, user)
            response = client.post("/api/v1/workloads/", row, format="json")
            if response.status_code != 201:
                raise CommandError(f"A single submit failed: {response.status_code} {response.content[:300]!r}")
        single_seconds = time.perf_counter() - began
        assert ComputeWorkload.objects.filter(user=user).count() == 2 * n

        out = self.stdout
        out.write(f"== Submitting {n:,} workloads through the API ({connection.vendor})\n")
        out.write("| how | time | per workload |\n|---|---|---|\n")
        out.write(f"| {n:,} single POSTs | {single_seconds:.2f} s | {single_seconds / n * 1000:.2f} ms |\n")
        out.write(f"| one batch POST | {batch_seconds:.2f} s | {batch_seconds / n * 1000:.3f} ms |\n")
        out.write(f"ratio single / batch: {single_seconds / batch_seconds:.1f}× faster (target ≥ 20×)\n")
