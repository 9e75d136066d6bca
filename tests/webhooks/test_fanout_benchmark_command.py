"""The fan-out benchmark command, at a tiny scale: both cases, their figures, nothing kept; the
bounds of the batch benchmarks' options."""

import io

import pytest
from django.core.management import CommandError, call_command

from outbox.models import OutboxEvent
from webhooks.models import WebhookDelivery, WebhookEndpoint
from workloads.models import ComputeWorkload

pytestmark = pytest.mark.django_db


def test_prints_both_cases_and_keeps_nothing():
    out = io.StringIO()
    call_command("benchmark_webhook_fanout", rows=12, rounds=2, stdout=out)
    text = out.getvalue()
    assert "| none |" in text and "| one, subscribed |" in text
    assert "batch POST with / without an endpoint:" in text
    assert text.count("each round") == 2
    assert not ComputeWorkload.objects.exists() and not OutboxEvent.objects.exists()
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("command", ["benchmark_webhook_fanout", "benchmark_outbox_dispatch"])
@pytest.mark.parametrize(("rows", "rounds"), [(5001, 1), (10, 0)])
def test_its_bounds(command, rows, rounds):
    with pytest.raises(CommandError):
        call_command(command, rows=rows, rounds=rounds, stdout=io.StringIO())
