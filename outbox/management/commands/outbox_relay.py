"""``python manage.py outbox_relay [--loop SECONDS]``: publish the outbox's pending events now."""

import time

from django.core.management.base import BaseCommand

from outbox import relay
from outbox.selectors import outbox_backlog


class Command(BaseCommand):
    help = "Publish outbox events that were not published when they were committed (the broker was down)."

    def add_arguments(self, parser):
        parser.add_argument("--loop", type=float, default=0, help="Repeat every this many seconds (0: once).")

    def handle(self, *args, loop: float = 0, **options):
        while True:
            published = relay.publish_pending()
            backlog = outbox_backlog()
            self.stdout.write(
                f"published {published}; {backlog['pending']} event(s) unhandled, oldest {backlog['oldest_created_at']}"
            )
            if not loop:
                return
            time.sleep(loop)
