from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.demo import DEMO_PASSWORD, seed_people
from workloads.demo import seed_workloads
from zones.demo import seed_intensity, seed_zones


class Command(BaseCommand):
    help = "Load the demo data (organisations, people, UK grid zones and their intensity). Safe to run again."

    @transaction.atomic
    def handle(self, *args, **options):
        people = seed_people()
        zones = seed_zones()
        self.stdout.write(self.style.SUCCESS(f"{len(zones)} grid zones"))
        counts = seed_intensity(zones)
        self.stdout.write(
            self.style.SUCCESS(
                f"Recorded NESO intensity (March 2023, moved to now): {counts.inserted} half hours added, "
                f"{counts.updated} updated"
            )
        )
        workloads = seed_workloads()
        self.stdout.write(self.style.SUCCESS(f"{workloads} new demo workloads"))
        for slug, members in people.items():
            for user in members:
                self.stdout.write(f"  {slug:10} {user.access_role:9} {user.email}")
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded. Every demo password is {DEMO_PASSWORD!r}."))
