"""``python manage.py benchmark_webhook_fanout [--rows 5000] [--rounds 2]``

What webhooks add to a batch upload of ``--rows`` workloads (``POST /api/v1/workloads/batch/``
through Django's test client with a real JWT), with no endpoint registered and with one subscribed
to ``workload.submitted``, in alternating rounds:

- the request: the same either way by design (the fan-out runs after the commit, in a worker);
- the fan-out: the webhook handler run on every event of the batch (in a worker, after the commit),
  which with an endpoint writes one delivery per workload; reported beside the request it follows.

Not measured: the deliveries' kick (one broker connection for the batch) and the POSTs themselves.
Everything happens in one transaction that is rolled back: no callback after a commit runs, and the
database is left as it was. It prints figures; it is not a timed test.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from outbox.models import EventType, OutboxEvent
from pylon.benchmarks import BatchRoundsCommand, benchmark_member, benchmark_zone, sign_in
from webhooks import handlers, signing
from webhooks.models import WebhookDelivery, WebhookEndpoint


class Command(BatchRoundsCommand):
    help = "Time a batch upload and its webhook fan-out, without and with a subscribed endpoint."

    def run(self, n: int, rounds: int) -> None:
        user = benchmark_member()
        zone = benchmark_zone()
        client = APIClient()
        sign_in(client, user)
        deadline = (timezone.now() + timedelta(days=2)).isoformat()
        rows = [
            {"workload_name": f"bench {i}", "host_dc": str(zone.pk), "required_gpu_mins": "120", "deadline": deadline}
            for i in range(n)
        ]
        endpoint = WebhookEndpoint.objects.create(
            organization=user.organization,
            url="https://hooks.bench.invalid/pylon",
            event_types=[EventType.WORKLOAD_SUBMITTED],
            secret=signing.secret_generate(),
            enabled=False,
        )

        def one_round(subscribed: bool) -> tuple[float, float]:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=subscribed)
            last = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
            began = time.perf_counter()
            response = client.post("/api/v1/workloads/batch/", rows, format="json")
            request_seconds = time.perf_counter() - began
            if response.status_code != 201 or response.json()["created"] != n:
                raise CommandError(f"The batch failed: {response.status_code} {response.content[:300]!r}")
            events = list(OutboxEvent.objects.filter(id__gt=last, type=EventType.WORKLOAD_SUBMITTED).order_by("id"))
            deliveries_before = WebhookDelivery.objects.filter(endpoint=endpoint).count()
            began = time.perf_counter()
            for event in events:
                handlers.deliver_to_subscribed_endpoints(event)
            fan_out_seconds = time.perf_counter() - began
            written = WebhookDelivery.objects.filter(endpoint=endpoint).count() - deliveries_before
            if written != (n if subscribed else 0):
                raise CommandError(f"The fan-out wrote {written} deliveries, expected {n if subscribed else 0}.")
            return request_seconds, fan_out_seconds

        client.post("/api/v1/workloads/batch/", rows[:1], format="json")  # warm up: imports, first queries
        figures: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for round_number in range(rounds):  # ABBA: a drift over the run (growing tables, load) falls on both
            for subscribed in (False, True) if round_number % 2 == 0 else (True, False):
                figures[subscribed].append(one_round(subscribed))

        def median(subscribed: bool, index: int) -> float:
            return statistics.median(pair[index] for pair in figures[subscribed])

        out = self.stdout
        out.write(
            f"== A batch of {n:,} workloads and its webhook fan-out ({connection.vendor}, {rounds} rounds, medians)\n"
        )
        out.write("| endpoint | batch POST | fan-out (worker) | fan-out / POST |\n|---|---|---|---|\n")
        for subscribed, label in ((False, "none"), (True, "one, subscribed")):
            request, fan_out = median(subscribed, 0), median(subscribed, 1)
            out.write(f"| {label} | {request:.2f} s | {fan_out:.3f} s | {fan_out / request:.2f}× |\n")
        for subscribed, label in ((False, "without"), (True, "with")):
            runs = ", ".join(f"{request:.2f} s + {fan_out:.3f} s" for request, fan_out in figures[subscribed])
            out.write(f"each round {label} an endpoint (POST + fan-out): {runs}\n")
        ratio = median(True, 0) / median(False, 0)
        out.write(f"batch POST with / without an endpoint: {ratio:.2f}× (the fan-out is not in the request)\n")
        per_delivery, without = median(True, 1) / n * 1000, median(False, 1) * 1000
        out.write(f"fan-out with an endpoint: {per_delivery:.3f} ms a delivery; without: {without:.1f} ms in all\n")
