"""The outbox dispatch benchmark command, at a tiny scale: both cases, their message counts, nothing kept."""

import io

import pytest
from django.core.management import call_command

from outbox.models import OutboxEvent
from webhooks.models import WebhookDelivery, WebhookEndpoint
from workloads.models import ComputeWorkload

pytestmark = pytest.mark.django_db


def test_prints_both_cases_and_keeps_nothing(settings):
    settings.OUTBOX_DISPATCH_BATCH = 5
    out = io.StringIO()
    call_command("benchmark_outbox_dispatch", rows=12, rounds=2, stdout=out)
    text = out.getvalue()
    assert "| a message an event | 12 |" in text and "| a message a chunk | 3 |" in text
    assert text.count("each round") == 2
    assert "ratio a message an event / a message a chunk:" in text
    assert not ComputeWorkload.objects.exists() and not OutboxEvent.objects.exists()
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()
