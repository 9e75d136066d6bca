from django.core.management.base import BaseCommand, CommandError

from zones import file_import
from zones.models import CarbonSource

MAX_REJECTIONS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Import a recorded carbon-intensity series (CSV: NESO national or regional, Electricity Maps export, "
        "or Pylon's period_start,zone,forecast,actual,price_gbp_per_kwh). Safe to run again: rows are upserted."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The CSV file.")
        parser.add_argument(
            "--zone",
            metavar="CODE",
            help="Grid zone code receiving the series (default: map the file's zone column to zones).",
        )
        parser.add_argument(
            "--key", help="With --zone and a multi-series file: the file's zone key to import (e.g. region 13)."
        )
        parser.add_argument(
            "--source",
            choices=CarbonSource.values,
            default=CarbonSource.FILE,
            help="Source recorded on the readings (default FILE).",
        )

    def handle(self, *args, path, zone=None, key=None, source=CarbonSource.FILE, **options):
        if key is not None and zone is None:
            raise CommandError("--key needs --zone")
        try:
            summary = file_import.intensity_import(path=path, zone_code=zone, file_key=key, source=source)
        except file_import.IntensityImportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"format: {summary.format}")
        self.stdout.write(f"rows read: {summary.rows_read}")
        self.stdout.write(
            f"readings: {summary.readings} ({summary.inserted} inserted, {summary.updated} updated, "
            f"{summary.unchanged} unchanged)"
        )
        if summary.prices_inserted or summary.prices_updated:
            self.stdout.write(f"prices: {summary.prices_inserted} inserted, {summary.prices_updated} updated")
        self.stdout.write(f"rejected: {summary.rows_rejected}")
        for line, reason in summary.rejections[:MAX_REJECTIONS_SHOWN]:
            self.stdout.write(f"  line {line}: {reason}")
        if summary.rows_rejected > MAX_REJECTIONS_SHOWN:
            self.stdout.write(f"  … and {summary.rows_rejected - MAX_REJECTIONS_SHOWN} more")
        for file_key, count in summary.skipped.items():
            self.stdout.write(f"skipped: {count} readings of {file_key!r}: no Pylon zone has that key")
        if summary.zones:
            self.stdout.write(self.style.SUCCESS(f"zones: {', '.join(summary.zones)}"))
        if summary.readings == 0:
            raise CommandError("nothing could be imported")
