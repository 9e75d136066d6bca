"""``python manage.py benchmark_analytics [--workloads 100000] [--repeat 5]``

The workload analytics' answer time (selector, serializer and JSON rendering: everything the view
does but authentication) over ``--workloads`` workloads of one organisation, beside the time of one
hand-written SQL query computing the same aggregates per day, on PostgreSQL. Both are run
``--repeat`` times after a warm-up; the medians and their ratio are printed (target: within 1.5×).
The two answers' totals are compared, so the reference is known to compute the same thing.

Everything happens in one transaction that is rolled back: the database is left as it was.
It prints figures; it is not a timed test.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from rest_framework.renderers import JSONRenderer

from accounts.models import Organization, Role, User
from analytics import selectors
from analytics.api.serializers import WorkloadAnalyticsSerializer
from analytics.periods import Bucket, Period, time_zone
from pylon.benchmarks import benchmark_zone, rolled_back
from workloads.models import ComputeWorkload, WorkloadStatus

TZ = "Europe/London"
#: The same aggregates as ``analytics.selectors.WORKLOAD_SUMS``, written by hand.
REFERENCE_SQL = """
SELECT date_trunc('day', w.submitted_at AT TIME ZONE %(tz)s) AS bucket,
       count(*),
       count(*) FILTER (WHERE w.status = 'COMPLETED'),
       count(*) FILTER (WHERE w.status = 'FAILED'),
       count(*) FILTER (WHERE w.status = 'CANCELLED'),
       sum(coalesce(w.actual_energy_kwh, w.estimated_energy_kwh)) FILTER (WHERE w.status = 'COMPLETED'),
       sum(w.carbon_emitted_kg) FILTER (WHERE w.status = 'COMPLETED'),
       sum(w.baseline_carbon_kg) FILTER (WHERE w.status = 'COMPLETED'),
       sum(w.cost_gbp) FILTER (WHERE w.status = 'COMPLETED'),
       sum(w.baseline_cost_gbp) FILTER (WHERE w.status = 'COMPLETED'),
       count(*) FILTER (WHERE w.actual_start IS NOT NULL),
       sum(w.actual_start - w.submitted_at) FILTER (WHERE w.actual_start IS NOT NULL),
       count(*) FILTER (WHERE w.status = 'COMPLETED' AND w.deadline IS NOT NULL AND w.actual_end IS NOT NULL),
       count(*) FILTER (WHERE w.status = 'COMPLETED' AND w.actual_end <= w.deadline)
  FROM workloads_computeworkload w
 WHERE w.organization_id = %(organization)s AND w.submitted_at >= %(start)s AND w.submitted_at < %(end)s
 GROUP BY 1
 ORDER BY 1
"""


class Command(BaseCommand):
    help = "Time the workload analytics against one hand-written SQL query over many workloads (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--workloads", type=int, default=100_000)
        parser.add_argument("--repeat", type=int, default=5)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("The reference query is PostgreSQL's: run with DATABASE_URL=postgres://…")
        with rolled_back():
            self._run(options["workloads"], max(1, options["repeat"]), random.Random(options["seed"]))

    def _run(self, n: int, repeat: int, rng: random.Random) -> None:
        end = datetime(2026, 1, 1, tzinfo=UTC)
        start = end - timedelta(days=365)
        operator = self._data(n, start, rng)
        period = Period.build(start=start, end=end, bucket=Bucket.DAY, tz=time_zone(TZ))

        def analytics():
            result = selectors.workload_analytics(fetched_by=operator, period=period)
            return result, JSONRenderer().render(WorkloadAnalyticsSerializer(result).data)

        params = {"tz": TZ, "organization": operator.organization_id, "start": start, "end": end}

        def reference():
            with connection.cursor() as cursor:
                cursor.execute(REFERENCE_SQL, params)
                return cursor.fetchall()

        ours, theirs = _median_seconds(analytics, repeat), _median_seconds(reference, repeat)
        result, _ = analytics()
        rows = reference()
        submitted, emitted = sum(row[1] for row in rows), sum(row[6] or Decimal(0) for row in rows)
        same = (result.totals["submitted"], result.totals["carbon_emitted_kg"]) == (submitted, emitted)
        out = self.stdout
        out.write(f"== Workload analytics over {n:,} workloads, {len(rows)} day buckets ({TZ}), PostgreSQL\n")
        out.write(f"totals agree with the reference: {'yes' if same else 'NO'}\n")
        out.write(f"| what | median of {repeat} |\n|---|---|\n")
        out.write(f"| hand-written SQL (one query, rows fetched) | {theirs * 1000:.1f} ms |\n")
        out.write(f"| analytics (selector + serializer + JSON) | {ours * 1000:.1f} ms |\n")
        out.write(f"ratio analytics / SQL: {ours / theirs:.2f}× (target ≤ 1.5×)\n")
        if not same:
            raise CommandError("The analytics and the reference query disagree.")

    def _data(self, n: int, start: datetime, rng: random.Random) -> User:
        organization = Organization.objects.create(name="Benchmark", slug=f"bench-{uuid.uuid4().hex[:8]}")
        operator = User.objects.create(
            email=f"ops-{uuid.uuid4().hex[:8]}@bench.example", role=Role.OPERATOR, organization=organization
        )
        members = [
            User.objects.create(email=f"m{i}-{uuid.uuid4().hex[:8]}@bench.example", organization=organization)
            for i in range(20)
        ]
        tag = uuid.uuid4().hex[:6]
        zones = [benchmark_zone(i) for i in range(5)]
        statuses = [WorkloadStatus.COMPLETED] * 6 + [WorkloadStatus.FAILED, WorkloadStatus.CANCELLED]
        statuses += [WorkloadStatus.PENDING, WorkloadStatus.SCHEDULED, WorkloadStatus.RUNNING]
        rows = []
        for i in range(n):
            submitted = start + timedelta(seconds=rng.randrange(365 * 86400))
            status = rng.choice(statuses)
            started = status in (WorkloadStatus.COMPLETED, WorkloadStatus.RUNNING) or (
                status == WorkloadStatus.FAILED and rng.random() < 0.5
            )
            actual_start = submitted + timedelta(minutes=rng.randrange(0, 600)) if started else None
            done = status == WorkloadStatus.COMPLETED
            energy = Decimal(rng.randrange(1, 500_000)) / 1000
            intensity = Decimal(rng.randrange(20, 300))
            rows.append(
                ComputeWorkload(
                    job_id=f"JOB-BENCH-{tag}-{i:07d}",
                    user=rng.choice(members),
                    organization=organization,
                    workload_name=f"bench {i}",
                    status=status,
                    host_dc=zones[0],
                    chosen_grid_zone=None if status == WorkloadStatus.PENDING else rng.choice(zones),
                    estimated_energy_kwh=energy,
                    estimated_duration_mins=60,
                    deadline=submitted + timedelta(hours=rng.randrange(2, 48)) if rng.random() < 0.7 else None,
                    submitted_at=submitted,
                    actual_start=actual_start,
                    actual_end=actual_start + timedelta(minutes=60) if done else None,
                    carbon_emitted_kg=(energy * intensity / 1000).quantize(Decimal("0.0001")) if done else None,
                    baseline_carbon_kg=(energy * Decimal("0.2")).quantize(Decimal("0.0001")) if done else None,
                    cost_gbp=(energy * Decimal("0.21")).quantize(Decimal("0.0001")) if done else None,
                    baseline_cost_gbp=(energy * Decimal("0.25")).quantize(Decimal("0.0001")) if done else None,
                )
            )
        ComputeWorkload.objects.bulk_create(rows, batch_size=2000)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE workloads_computeworkload")
        return operator


def _median_seconds(function, repeat: int) -> float:
    function()  # warm-up: plans and caches, for both sides alike
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)
