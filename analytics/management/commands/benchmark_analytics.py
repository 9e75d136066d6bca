"""``python manage.py benchmark_analytics [--workloads 100000] [--repeat 5]``

The answer time (selector, serializer and JSON rendering: everything the view does but
authentication) over ``--workloads`` workloads of one organisation, a year of day buckets, on
PostgreSQL, of the workload analytics and of the zone utilisation, each beside the time of one
hand-written SQL query computing the same figures. Each is run ``--repeat`` times after a warm-up;
the medians and their ratio are printed (target for the workload analytics: within 1.5×). The
answers are compared with the references', so each reference is known to compute the same thing.

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
from analytics.api.serializers import WorkloadAnalyticsSerializer, ZoneUtilisationSerializer
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

#: The zone utilisation by day, written by hand the direct way: each window (really started, else
#: planned, for the estimated minutes) is joined to every local day it overlaps, which gets the
#: overlap × the rate (GPU-minutes spread evenly; cores and memory throughout).
UTILISATION_SQL = """
WITH win AS (
    SELECT w.chosen_grid_zone_id AS zone_id,
           greatest(coalesce(w.actual_start, w.planned_start), %(start)s) AS s,
           least(coalesce(w.actual_start, w.planned_start) + w.estimated_duration_mins * interval '1 minute',
                 %(end)s) AS e,
           w.required_gpu_mins / w.estimated_duration_mins AS gpus,
           w.required_cpu_cores AS cores,
           w.required_memory_gb AS memory_gb
      FROM workloads_computeworkload w
     WHERE w.organization_id = %(organization)s
       AND w.status IN ('SCHEDULED', 'RUNNING', 'COMPLETED')
       AND w.chosen_grid_zone_id IS NOT NULL AND w.estimated_duration_mins > 0
       AND coalesce(w.actual_start, w.planned_start) < %(end)s
       AND coalesce(w.actual_start, w.planned_start) + w.estimated_duration_mins * interval '1 minute' > %(start)s
), piece AS (
    SELECT win.*, day AT TIME ZONE %(tz)s AS lo, (day + interval '1 day') AT TIME ZONE %(tz)s AS hi
      FROM win
     CROSS JOIN LATERAL generate_series(
           date_trunc('day', win.s AT TIME ZONE %(tz)s),
           date_trunc('day', (win.e - interval '1 microsecond') AT TIME ZONE %(tz)s),
           interval '1 day') AS day
)
SELECT lo, zone_id, count(*),
       sum(gpus * extract(epoch FROM least(e, hi) - greatest(s, lo))) / 3600,
       sum(cores * extract(epoch FROM least(e, hi) - greatest(s, lo))) / 3600,
       sum(memory_gb * extract(epoch FROM least(e, hi) - greatest(s, lo))) / 3600
  FROM piece
 GROUP BY 1, 2
 ORDER BY 1, 2
"""
_RESOURCES = ("gpu", "core", "memory_gb")


class Command(BaseCommand):
    help = "Time the analytics against hand-written SQL queries over many workloads (PostgreSQL)."

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
        reference = _query(REFERENCE_SQL, params)
        ours, theirs = _median_seconds(analytics, repeat), _median_seconds(reference, repeat)
        result, _ = analytics()
        rows = reference()
        submitted, emitted = sum(row[1] for row in rows), sum(row[6] or Decimal(0) for row in rows)
        same = (result.totals["submitted"], result.totals["carbon_emitted_kg"]) == (submitted, emitted)
        out = self.stdout
        out.write(f"== Workload analytics over {n:,} workloads, {len(rows)} day buckets ({TZ}), PostgreSQL\n")
        out.write(f"totals agree with the reference: {'yes' if same else 'NO'}\n")
        _table(out, repeat, theirs, ours)
        out.write(f"ratio analytics / SQL: {ours / theirs:.2f}× (target ≤ 1.5×)\n")

        def utilisation():
            results = selectors.zone_utilisation(fetched_by=operator, period=period)
            return results, JSONRenderer().render(
                ZoneUtilisationSerializer({"period": period, "results": results}).data
            )

        utilisation_reference = _query(UTILISATION_SQL, params)
        ours_u, theirs_u = _median_seconds(utilisation, repeat), _median_seconds(utilisation_reference, repeat)
        results, _ = utilisation()
        reference_rows = utilisation_reference()
        agree = _same_utilisation(results, reference_rows)
        out.write(f"== Zone utilisation, the same workloads and days: {len(reference_rows)} zone × day rows\n")
        out.write(f"every row agrees with the reference (to 0.01 h): {'yes' if agree else 'NO'}\n")
        _table(out, repeat, theirs_u, ours_u)
        out.write(f"ratio utilisation / SQL: {ours_u / theirs_u:.2f}×\n")
        if not same:
            raise CommandError("The analytics and the reference query disagree.")
        if not agree:
            raise CommandError("The zone utilisation and the reference query disagree.")

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
            # From half an hour to two days: many windows span two days or more.
            minutes = rng.choice((30, 60, 90, 240, 600, 1500, 2880))
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
                    estimated_duration_mins=minutes,
                    required_gpu_mins=Decimal(minutes * rng.randrange(0, 5)),
                    required_cpu_cores=rng.randrange(1, 65),
                    required_memory_gb=Decimal(rng.randrange(1, 513)),
                    deadline=submitted + timedelta(hours=rng.randrange(2, 48)) if rng.random() < 0.7 else None,
                    submitted_at=submitted,
                    planned_start=None if status == WorkloadStatus.PENDING else submitted + timedelta(minutes=30),
                    actual_start=actual_start,
                    actual_end=actual_start + timedelta(minutes=minutes) if done else None,
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


def _query(sql: str, params: dict):
    """A function running ``sql`` and fetching every row."""

    def run():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    return run


def _table(out, repeat: int, reference: float, ours: float) -> None:
    out.write(f"| what | median of {repeat} |\n|---|---|\n")
    out.write(f"| hand-written SQL (one query, rows fetched) | {reference * 1000:.1f} ms |\n")
    out.write(f"| analytics (selector + serializer + JSON) | {ours * 1000:.1f} ms |\n")


def _same_utilisation(results: list[dict], reference_rows: list[tuple]) -> bool:
    """Both have the same (day, zone) rows, with the same counts and hours (to within our rounding)."""
    ours = {
        (row["bucket_start"].astimezone(UTC), row["zone"].pk): (
            row["workloads"],
            *(row[f"{resource}_hours_reserved"] for resource in _RESOURCES),
        )
        for row in results
    }
    theirs = {(lo.astimezone(UTC), zone_id): (count, *hours) for lo, zone_id, count, *hours in reference_rows}
    if ours.keys() != theirs.keys():
        return False
    tolerance = Decimal("0.01")
    return all(
        abs(Decimal(mine) - Decimal(their)) <= tolerance
        for key in ours
        for mine, their in zip(ours[key], theirs[key], strict=True)
    )


def _median_seconds(function, repeat: int) -> float:
    function()  # warm-up: plans and caches, for both sides alike
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)
