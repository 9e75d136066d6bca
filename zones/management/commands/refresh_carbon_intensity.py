from django.core.management.base import BaseCommand, CommandError

from zones import refresh
from zones.models import LIVE_SOURCES


class Command(BaseCommand):
    help = "Fetch the 48-hour carbon-intensity forecast of the zones now (what the half-hourly Celery task does)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--provider",
            choices=[str(source) for source in LIVE_SOURCES],
            help="Refresh only the zones of this provider (default: every live provider).",
        )

    def handle(self, *args, provider=None, **options):
        summary = refresh.carbon_refresh(provider=provider)
        if not summary.providers:
            self.stdout.write("No zone is refreshed from a live provider.")
            return
        for result in summary.providers:
            line = (
                f"{result.provider}: {result.status}; {result.zones} zones, {result.readings} readings "
                f"({result.inserted} inserted, {result.updated} updated, {result.unchanged} unchanged), "
                f"{result.zones_updated} zones' current figures updated, {result.attempts} calls"
            )
            self.stdout.write(self.style.SUCCESS(line) if result.status == "ok" else self.style.WARNING(line))
            for zone, reason in sorted(result.errors.items()):
                self.stdout.write(f"  {zone}: {reason}")
        if all(result.status in ("failed", "locked") for result in summary.providers):
            raise CommandError("no provider could be refreshed")
