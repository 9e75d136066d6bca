"""The batch-upload benchmark command, at a tiny scale: both timings, the ratio, nothing kept."""

import io

import pytest
from django.core.management import CommandError, call_command

from workloads.models import ComputeWorkload, WorkloadEvent

pytestmark = pytest.mark.django_db


def test_prints_both_timings_and_the_ratio_and_keeps_nothing():
    out = io.StringIO()
    call_command("benchmark_batch_upload", rows=15, stdout=out)
    text = out.getvalue()
    assert "| 15 single POSTs |" in text and "| one batch POST |" in text
    assert "ratio single / batch:" in text
    assert not ComputeWorkload.objects.exists() and not WorkloadEvent.objects.exists()


def test_rows_are_bounded_by_the_batch_limit():
    with pytest.raises(CommandError):
        call_command("benchmark_batch_upload", rows=5001, stdout=io.StringIO())
