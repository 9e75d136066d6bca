"""``python manage.py benchmark_placement [--quick]``: placement under binding capacity.

Greedy, Pylon's placement step and HiGHS's exact MILP on the same seeded instances generated from
the repo's NESO regional trace, then 1,000 workloads x 14 zones x 96 half hours timed beside greedy
(``scheduling.benchmarks.placement``). It prints figures; it is not a timed test.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from scheduling.benchmarks import placement
from scheduling.engine import placement as engine_placement


class Command(BaseCommand):
    help = "Compare greedy placement, Pylon's placement step and an exact MILP when capacity binds."

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="Fewer instances (50 and 200 workloads, one seed).")
        parser.add_argument(
            "--budget",
            type=float,
            default=engine_placement.TIME_BUDGET,
            help="The placement step's time budget in seconds (default: the engine's).",
        )

    def handle(self, *args, quick: bool = False, budget: float = engine_placement.TIME_BUDGET, **options):
        self.stdout.write(placement.main(quick=quick, budget=budget))
