from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.demo import DEMO_PASSWORD, seed_people
from zones.demo import seed_zones


class Command(BaseCommand):
    help = "Load the demo data (organisations, people, UK grid zones). Safe to run again."

    @transaction.atomic
    def handle(self, *args, **options):
        people = seed_people()
        zones = seed_zones()
        self.stdout.write(self.style.SUCCESS(f"{len(zones)} grid zones"))
        for slug, members in people.items():
            for user in members:
                self.stdout.write(f"  {slug:10} {user.role:9} {user.email}")
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded. Every demo password is {DEMO_PASSWORD!r}."))
