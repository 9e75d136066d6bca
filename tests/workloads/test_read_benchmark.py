"""The read-path benchmark command runs end to end at a tiny scale, so that it cannot rot. It is not
a timed test: it checks that both apps serve, that Pylon's answers equal the reference's on every page
it measures (the reference is only a fair yardstick if it does the same job), that the table is
printed, and that the throwaway database is gone afterwards."""

import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from workloads.management.commands.benchmark_read_path import _database_url


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the benchmark and its psycopg reference need PostgreSQL",
)
@pytest.mark.django_db
def test_the_benchmark_runs_at_a_tiny_scale_and_leaves_nothing():
    # The configured database (pytest runs on its test_ copy); the command makes its own beside it.
    database = {**connection.settings_dict, "NAME": settings.DATABASES["default"]["NAME"].removeprefix("test_")}
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [
            sys.executable,
            "manage.py",
            "benchmark_read_path",
            "--workloads=240",
            "--page-size=20",
            "--seconds=0.5",
            "--runs=1",
            "--connections=2",
            "--workers=1",
        ],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": _database_url(database)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "differs" not in result.stdout, result.stdout
    rows = re.findall(
        r"^\| (workloads|notifications|queue) \| (operator|user) \([\d,]+\) \| (first page|cursor page, half-way) "
        r"\| \d+ \| \d+ \| [\d.]+ \|$",
        result.stdout,
        re.M,
    )
    assert len(rows) == 10, result.stdout  # two lists × two callers × two pages, and the queue's two (operator)
    throwaway = re.search(r"throwaway database (\w+)…", result.stdout)[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [throwaway])
        assert cursor.fetchone()[0] == 0
