"""``python manage.py benchmark_outbox_dispatch [--rows 5000] [--rounds 2]``

What a worker does with a batch upload's ``--rows`` ``workload.submitted`` events, with an endpoint
subscribed to them (so the webhook fan-out writes a delivery a workload) and every registered
handler (the batch's recommendation included), in alternating rounds:

- a message an event: ``outbox.tasks.outbox_dispatch(event_id)``, what the relay published before
  ``OUTBOX_DISPATCH_BATCH`` (the reference, measured in the same run);
- a message a chunk: ``outbox.tasks.outbox_dispatch_batch(event_ids)``, what it publishes now.

Each message is run as a worker runs it (the task's trace: signals, metrics, its transaction), in
this process; not measured: the broker's round trips, one a message, which the chunks save as well.
Between rounds the events are made unhandled again and their deliveries deleted. Everything happens
in one transaction that is rolled back: the database is left as it was. It prints figures; it is
not a timed test.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection
from rest_framework.test import APIClient

from outbox.models import EventType, OutboxEvent
from pylon.background import task_named
from pylon.benchmarks import BatchRoundsCommand, benchmark_member, benchmark_zone, sign_in
from webhooks import signing
from webhooks.models import WebhookDelivery, WebhookEndpoint

PER_EVENT_TASK = "outbox.tasks.outbox_dispatch"
PER_CHUNK_TASK = "outbox.tasks.outbox_dispatch_batch"


class Command(BatchRoundsCommand):
    help = "Time a worker handling a batch upload's events: a message an event against a message a chunk."

    def run(self, n: int, rounds: int) -> None:
        user = benchmark_member()
        zone = benchmark_zone()
        client = APIClient()
        sign_in(client, user)
        endpoint = WebhookEndpoint.objects.create(
            organization=user.organization,
            url="https://hooks.bench.invalid/pylon",
            event_types=[EventType.WORKLOAD_SUBMITTED],
            secret=signing.secret_generate(),
        )
        last = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        rows = [{"workload_name": f"bench {i}", "host_dc": str(zone.pk), "required_gpu_mins": "120"} for i in range(n)]
        response = client.post("/api/v1/workloads/batch/", rows, format="json")
        if response.status_code != 201 or response.json()["created"] != n:
            raise CommandError(f"The batch failed: {response.status_code} {response.content[:300]!r}")
        events = OutboxEvent.objects.filter(id__gt=last, type=EventType.WORKLOAD_SUBMITTED)
        ids = list(events.order_by("id").values_list("id", flat=True))
        size = max(1, int(settings.OUTBOX_DISPATCH_BATCH))
        per_event, per_chunk = task_named(PER_EVENT_TASK), task_named(PER_CHUNK_TASK)
        cases: dict[str, Callable[[], int]] = {
            "a message an event": lambda: sum(1 for event_id in ids if per_event.apply(args=[event_id]).get()),
            "a message a chunk": lambda: sum(
                1 for k in range(0, n, size) if per_chunk.apply(args=[ids[k : k + size]]).get()
            ),
        }

        def one_round(case: str) -> float:
            events.update(handled_at=None)
            WebhookDelivery.objects.filter(endpoint=endpoint).delete()
            began = time.perf_counter()
            messages = cases[case]()
            seconds = time.perf_counter() - began
            written = WebhookDelivery.objects.filter(endpoint=endpoint).count()
            if events.filter(handled_at__isnull=True).exists() or written != n:
                raise CommandError(f"{case}: {written} deliveries for {n} events, or some left unhandled.")
            if messages != (n if case == "a message an event" else math.ceil(n / size)):
                raise CommandError(f"{case}: {messages} messages.")
            return seconds

        names = list(cases)
        figures: dict[str, list[float]] = {name: [] for name in names}
        for round_number in range(rounds):  # ABBA: a drift over the run (growing tables, load) falls on both
            for case in names if round_number % 2 == 0 else reversed(names):
                figures[case].append(one_round(case))

        out = self.stdout
        out.write(
            f"== A worker handling a batch of {n:,} workloads' events, an endpoint subscribed "
            f"({connection.vendor}, OUTBOX_DISPATCH_BATCH={size}, {rounds} rounds, medians)\n"
        )
        out.write("| messages | count | worker time | per event |\n|---|---|---|---|\n")
        for case, count in zip(names, (n, math.ceil(n / size)), strict=True):
            seconds = statistics.median(figures[case])
            out.write(f"| {case} | {count:,} | {seconds:.2f} s | {seconds / n * 1000:.3f} ms |\n")
        for case in names:
            out.write(f"each round, {case}: {', '.join(f'{s:.2f} s' for s in figures[case])}\n")
        ratio = statistics.median(figures[names[0]]) / statistics.median(figures[names[1]])
        fewer = n / math.ceil(n / size)
        out.write(f"ratio a message an event / a message a chunk: {ratio:.1f}× (messages: {fewer:.0f}× fewer)\n")
