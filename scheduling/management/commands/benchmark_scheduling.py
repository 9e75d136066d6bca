"""``python manage.py benchmark_scheduling [--workloads N]``: the figures the README reports.

1. Carbon: on the real NESO traces shipped in ``zones/data/``, the saving against running at once in
   the host zone of four strategies — best start in the host zone only (the Carbon Aware SDK's
   best-window method), greenest zone now, Pylon deciding on forecasts, and the oracle that knows
   the actual intensities — all accounted on actuals (``scheduling.benchmarks.carbon``). Also the
   perfect-forecast check: with the actuals as forecast and free capacity Pylon must make the
   oracle's choice for every workload.
2. Database: ``recommendations_compute`` over 10,000 PENDING workloads on the 14 demo zones with a
   96-half-hour forecast, against a bare bulk read of the same workload rows plus a bare bulk write of
   the same rows the recompute writes (recommendations, outcomes, the three ``recommended_*``
   columns). Everything happens in one transaction that is rolled back: the database is left as it
   was. Works on SQLite and PostgreSQL.

It prints figures; it is not a timed test (times depend on the machine).
"""

from __future__ import annotations

import math
import os
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Organization, User
from outbox.models import OutboxEvent
from scheduling import inputs, recompute
from scheduling.benchmarks import carbon as bench
from scheduling.models import Recommendation, SchedulingOutcome
from scheduling.rows import OUTCOME_UPDATE_FIELDS
from workloads import services as workload_services
from workloads.models import ComputeWorkload
from zones.demo import seed_zones
from zones.models import CarbonSource, ZoneIntensityReading
from zones.providers.base import floor_half_hour


class _Rollback(Exception):
    pass


def carbon_traces() -> tuple[Path, Path]:
    """The (regional, national) traces: those shipped in the repository, or ``$PYLON_SHARED_DATA``'s when set.

    The shared folder is an optional extra (the same traces in NESO's own layout); naming one that
    holds no traces is an error rather than a silent fallback.
    """
    shared = os.environ.get("PYLON_SHARED_DATA")
    if not shared:
        return bench.REGIONAL_CSV, bench.NATIONAL_CSV
    base = Path(shared)
    for candidate in (base / "data" / "carbon", base / "carbon", base):
        regional = candidate / "uk_regional" / "uk_regional_2023-03.csv"
        national = candidate / "neso_gb_national_2023H1.csv"
        if regional.is_file() and national.is_file():
            return regional, national
    raise CommandError(
        f"PYLON_SHARED_DATA={shared} holds no carbon traces (expected data/carbon/uk_regional/uk_regional_2023-03.csv "
        "and data/carbon/neso_gb_national_2023H1.csv). Unset it to use the traces shipped in zones/data/."
    )


class Command(BaseCommand):
    help = "Print Pylon's carbon saving against simpler strategies and the oracle, and the recompute timing."

    def add_arguments(self, parser):
        parser.add_argument("--workloads", type=int, default=3000, help="Workloads of the carbon comparison.")
        parser.add_argument("--db-workloads", type=int, default=10_000, help="PENDING workloads of the DB timing.")
        parser.add_argument("--seed", type=int, default=2023)
        parser.add_argument("--skip-carbon", action="store_true", help="Only the database timing.")
        parser.add_argument("--skip-db", action="store_true", help="Only the carbon comparison.")

    def handle(self, *args, **options):
        regional, national = carbon_traces()
        if not options["skip_carbon"]:
            self._carbon(options["workloads"], options["seed"], regional, national)
        if not options["skip_db"]:
            self._database(options["db_workloads"], options["seed"], regional)

    # -- 1. carbon ---------------------------------------------------------------------------------

    def _carbon(self, n: int, seed: int, regional: Path, national: Path) -> None:
        out = self.stdout
        out.write(f"== Carbon saved against running at once in the host zone ({n} workloads, real NESO traces)\n")
        for method in ("region_days", "same_time"):
            report = bench.run_benchmark(
                n_workloads=n, seed=seed, method=method, regional_path=regional, national_path=national
            )
            out.write(bench.format_table(report) + "\n")
            self._verdict(report)
        limited = bench.run_benchmark(
            n_workloads=n,
            seed=seed,
            regional_path=regional,
            national_path=national,
            capacity=bench.LIMITED_CAPACITY,
        )
        out.write(
            "Capacity-limited variant (every zone {:g} GPUs, {:g} cores, {:g} GB: the green zones fill up; its "
            "oracle is the same greedy placement on the actuals):\n".format(*bench.LIMITED_CAPACITY)
        )
        out.write(bench.format_table(limited) + "\n")
        self._verdict(limited)
        actuals = bench.contiguous_segments(bench.load_uk_regional(regional), min_slots=48)
        perfect = bench.run_benchmark(
            n_workloads=n,
            seed=seed,
            regional_path=regional,
            national_path=national,
            forecast_override=actuals,
        )
        pylon = perfect.result("Pylon")
        same = perfect.same_choice_as_oracle == pylon.placed == perfect.result("oracle").placed
        out.write(
            f"Perfect forecasts, free capacity: Pylon made the oracle's choice for {perfect.same_choice_as_oracle} of "
            f"{pylon.placed} placed workloads ({'target met' if same else 'target NOT met'}); "
            f"{100 * pylon.share_of_oracle:.1f} % of the oracle's saving.\n\n"
        )

    def _verdict(self, report) -> None:
        pylon = report.result("Pylon")
        ok = pylon.deadline_misses == 0 and pylon.planned_cap_violations == 0
        self.stdout.write(
            f"Pylon: {100 * pylon.share_of_oracle:.1f} % of the oracle's saving (target >= 85 %), "
            f"{pylon.deadline_misses} deadline misses, {pylon.planned_cap_violations} cap violations on the forecast "
            f"it decided on ({'both 0: met' if ok else 'NOT met'}); {pylon.actual_over_cap} runs exceeded their cap "
            "on the actuals because the forecast was wrong.\n\n"
        )

    # -- 2. database -------------------------------------------------------------------------------

    def _database(self, n: int, seed: int, regional: Path) -> None:
        out = self.stdout
        vendor = connection.vendor
        out.write(f"== Recompute of {n} PENDING workloads, 14 zones x 96 half hours, on {vendor}\n")
        try:
            with transaction.atomic():
                figures = self._timed(n, seed, regional)
                raise _Rollback
        except _Rollback:
            pass
        bare = figures["bare_read"] + figures["bare_write"]
        out.write(
            f"bare bulk read of the workload rows:        {figures['bare_read']:7.2f} s\n"
            f"bare bulk write of the same rows:           {figures['bare_write']:7.2f} s "
            f"({figures['recommendations']} recommendations, {figures['outcomes']} outcomes, "
            f"{figures['moved']} workloads' recommended_* columns, {figures['events']} outbox events)\n"
            f"bare read + write:                          {bare:7.2f} s\n"
            f"recommendations_compute, first:             {figures['first']:7.2f} s "
            f"(engine {figures['engine']:.2f} s; {figures['placed']} placed, {figures['infeasible']} infeasible)\n"
            f"recommendations_compute, again (unchanged): {figures['again']:7.2f} s\n"
            f"ratio first / bare: {figures['first'] / bare:.2f} x (target <= 2 x: "
            f"{'met' if figures['first'] <= 2 * bare else 'NOT met'}); "
            f"again / bare: {figures['again'] / bare:.2f} x\n"
            "(all in one transaction, rolled back: nothing was kept)\n"
        )

    def _timed(self, n: int, seed: int, regional: Path) -> dict:
        zones = seed_zones()
        now = timezone.now()
        start = floor_half_hour(now)
        trace = bench.contiguous_segments(bench.load_uk_regional(regional), min_slots=96)[0]
        by_region = {zone.neso_region_id: zone for zone in zones}
        fetched_at = now
        ZoneIntensityReading.objects.bulk_create(
            [
                ZoneIntensityReading(
                    zone=by_region[int(code)],
                    period_start=start + t * timedelta(minutes=30),
                    period_end=start + (t + 1) * timedelta(minutes=30),
                    forecast=float(trace.values[z, t]),
                    source=CarbonSource.FILE,
                    fetched_at=fetched_at,
                )
                for z, code in enumerate(trace.zone_codes)
                for t in range(96)
                if not math.isnan(trace.values[z, t])
            ],
            update_conflicts=True,
            unique_fields=["zone", "period_start", "source"],
            update_fields=["forecast", "fetched_at", "period_end"],
        )
        organization = Organization.objects.create(name="Benchmark", slug=f"benchmark-{uuid.uuid4().hex[:8]}")
        owner = User.objects.create_user(email=f"{uuid.uuid4().hex[:8]}@benchmark.example", organization=organization)
        codes = [inputs.zone_code(zone.pk) for zone in zones]
        zone_of = {inputs.zone_code(zone.pk): zone for zone in zones}
        generated = bench.generate_workloads(n, codes, start, 96, seed, carbon_cap_share=0.2, price_cap_share=0.05)
        rows = []
        for k, w in enumerate(generated):
            shift = w.submitted_at - now  # every workload submitted now; windows and deadlines keep their sizes
            rows.append(
                ComputeWorkload(
                    job_id=f"BENCH-{k:06d}-{uuid.uuid4().hex[:6]}",
                    user=owner,
                    organization=organization,
                    workload_name=f"Benchmark {k}",
                    urgency=str(w.urgency),
                    host_dc=zone_of[str(w.host_zone)],
                    required_gpu_mins=Decimal(f"{w.gpu_mins:.2f}"),
                    required_cpu_cores=int(w.cpu_cores),
                    required_memory_gb=Decimal(f"{w.memory_gb:.2f}"),
                    estimated_energy_kwh=None if w.energy_kwh is None else Decimal(f"{w.energy_kwh:.3f}"),
                    estimated_duration_mins=w.duration_mins,
                    carbon_cap_gco2=None if w.carbon_cap_g is None else Decimal(f"{max(w.carbon_cap_g, 0.01):.2f}"),
                    max_price_gbp=None if w.price_cap_gbp is None else Decimal(f"{max(w.price_cap_gbp, 0.01):.2f}"),
                    deferral_window_mins=w.deferral_window_mins,
                    deadline=None if w.deadline is None else w.deadline - shift,
                    is_deferrable=w.is_deferrable,
                    submitted_at=now,
                )
            )
        ComputeWorkload.objects.bulk_create(rows, batch_size=1000)
        ids = [row.pk for row in rows]

        # Recompute: reads, engine, writes, as the tasks run it. The engine's share is timed apart.
        engine_seconds = [0.0]
        real = recompute.engine.schedule_batch

        def timed_batch(*args, **kwargs):
            t = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                engine_seconds[0] += time.perf_counter() - t

        recompute.engine.schedule_batch = timed_batch
        try:
            last_event = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
            t = time.perf_counter()
            report = recompute.recommendations_compute(workload_ids=ids, now=now)
            first = time.perf_counter() - t
            # What the first run recorded (the second changes nothing, so records nothing).
            events = list(OutboxEvent.objects.filter(id__gt=last_event))
            engine = engine_seconds[0]
            t = time.perf_counter()
            recompute.recommendations_compute(workload_ids=ids, now=now)
            again = time.perf_counter() - t
        finally:
            recompute.engine.schedule_batch = real
        recommendations = list(Recommendation.objects.filter(workload__in=ids))
        outcomes = list(SchedulingOutcome.objects.filter(workload__in=ids))
        moved = list(
            ComputeWorkload.objects.filter(pk__in=ids, recommended_grid_zone__isnull=False).values_list("pk", flat=True)
        )
        bare_read, bare_write = self._bare(ids, recommendations, outcomes, moved, events)
        return {
            "first": first,
            "again": again,
            "engine": engine,
            "bare_read": bare_read,
            "bare_write": bare_write,
            "recommendations": len(recommendations),
            "outcomes": len(outcomes),
            "moved": len(moved),
            "events": len(events),
            "placed": report.computed - report.unschedulable,
            "infeasible": report.unschedulable,
        }

    @staticmethod
    def _bare(ids, recommendations, outcomes, moved, events) -> tuple[float, float]:
        """The same rows through the same bulk statements, with nothing computed in between."""
        t = time.perf_counter()
        for batch in recompute.batches(ids):
            list(ComputeWorkload.objects.filter(pk__in=batch).order_by().values(*inputs.WORKLOAD_FIELDS))
        read = time.perf_counter() - t
        for row in (*recommendations, *events):
            row.pk = None
        t = time.perf_counter()
        with transaction.atomic():
            for batch in recompute.batches(ids):
                Recommendation.objects.filter(workload_id__in=batch).delete()
            Recommendation.objects.bulk_create(recommendations, batch_size=recompute.DB_BATCH)
            SchedulingOutcome.objects.bulk_create(
                outcomes,
                batch_size=recompute.DB_BATCH,
                update_conflicts=True,
                unique_fields=["workload"],
                update_fields=OUTCOME_UPDATE_FIELDS,
            )
            workload_services.workload_recommended_zones_update(workload_ids=moved, ranked=Recommendation.objects.all())
            OutboxEvent.objects.bulk_create(events, batch_size=recompute.DB_BATCH)
        write = time.perf_counter() - t
        return read, write
