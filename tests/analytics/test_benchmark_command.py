"""The analytics benchmark command, at a tiny scale: it prints both timings and their ratio, checks
the two answers agree, and leaves nothing behind."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from workloads.models import ComputeWorkload

pytestmark = pytest.mark.django_db


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the reference query is PostgreSQL's")
def test_prints_both_timings_and_the_ratio_and_keeps_nothing():
    out = io.StringIO()
    call_command("benchmark_analytics", workloads=300, repeat=1, stdout=out)
    text = out.getvalue()
    assert "totals agree with the reference: yes" in text
    assert "every row agrees with the reference (to 0.01 h): yes" in text
    assert "| hand-written SQL" in text and "| analytics" in text
    assert "ratio analytics / SQL:" in text and "ratio utilisation / SQL:" in text
    assert not ComputeWorkload.objects.exists()


@pytest.mark.skipif("connection.vendor == 'postgresql'", reason="SQLite only")
def test_refuses_other_databases():
    assert connection.vendor != "postgresql"
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("benchmark_analytics", workloads=10, repeat=1, stdout=io.StringIO())
