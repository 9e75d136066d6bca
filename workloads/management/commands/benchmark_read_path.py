"""``python manage.py benchmark_read_path [--workloads 100000]``: the read path against raw SQL.

In a throwaway PostgreSQL database (created beside the configured one, dropped at the end) it builds
N workloads in one organisation, starts Pylon and the bare reference
(``workloads.benchmarks.read_reference``: psycopg + orjson, no Django) under the same gunicorn
settings (sync workers on loopback ports the kernel picks), checks that both give the same answer,
then drives them in alternating runs with the same bounded load — on each list that grows with the
workloads (the workloads list; the notifications inbox, N rows for the operator; the scheduling
queue, the operator's only), as the organisation's operator and as one of its users, on the first
page (which counts) and on a cursor page half-way down (which does not). It prints req/s of each
and the ratio. Figures, not a timed test.
"""

from __future__ import annotations

import os
import statistics
from urllib.parse import quote, urlsplit

import orjson
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from notifications.models import Notification
from scheduling.models import Recommendation, SchedulingOutcome
from scheduling.selectors import QUEUE_ORDER
from workloads.benchmarks import dataset
from workloads.benchmarks.load import Server, drive, request
from workloads.benchmarks.read_reference import encode_cursor, encode_queue_cursor
from workloads.models import ComputeWorkload, WorkloadStatus

#: Each list measured: its path, and how a caller's rows are read in its order (for a cursor half-way).
LISTS = {
    "workloads": ("/api/v1/workloads/", ("-submitted_at", "id")),
    "notifications": ("/api/v1/notifications/", ("-created_at", "-id")),
    "queue": ("/api/v1/scheduling/queue/", QUEUE_ORDER),
}


def _database_url(settings_dict: dict) -> str:
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{credentials}{host}:{port}/{settings_dict['NAME']}"


def _comparable(body: bytes) -> dict:
    """The answer without the server's own address in its links."""
    answer = orjson.loads(body)
    for link in ("next", "previous"):
        if answer.get(link):
            parts = urlsplit(answer[link])
            answer[link] = f"{parts.path}?{parts.query}"
    return answer


def _difference(bodies: dict) -> str:
    if len(bodies) != 2:
        return "an error status"
    pylon, reference = bodies["pylon"], bodies["reference"]
    for key in ("count", "next", "previous"):
        if pylon.get(key) != reference.get(key):
            return f"{key}: {pylon.get(key)!r} against {reference.get(key)!r}"
    for mine, theirs in zip(pylon["results"], reference["results"], strict=False):
        for field in theirs:
            if mine.get(field) != theirs[field]:
                return f"{field}: {mine.get(field)!r} against {theirs[field]!r}"
    return "the number of results"


class Command(BaseCommand):
    help = "Requests per second of the workloads list in Pylon and in a bare psycopg + orjson app, side by side."

    def add_arguments(self, parser):
        parser.add_argument("--workloads", type=int, default=100_000, help="Rows in the organisation.")
        parser.add_argument("--seconds", type=float, default=8.0, help="Length of one measured run.")
        parser.add_argument("--runs", type=int, default=3, help="Alternating runs per app, caller and page.")
        parser.add_argument("--connections", type=int, default=8, help="Concurrent clients.")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers of each app.")
        parser.add_argument("--page-size", type=int, default=50)

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("The read-path benchmark needs PostgreSQL: set DATABASE_URL=postgres://…")
        original = connection.settings_dict["NAME"]
        throwaway = f"{original}_readbench_{os.getpid()}"
        connection.settings_dict.setdefault("TEST", {})["NAME"] = throwaway
        self.stdout.write(f"Building {options['workloads']:,} workloads in the throwaway database {throwaway}…")
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            self._run(options)
        finally:
            connection.creation.destroy_test_db(original, verbosity=0)

    def _run(self, options):
        callers = dataset.build(workloads=options["workloads"])
        # Statistics, as autovacuum would have gathered them on tables this size: without them the
        # planner guesses a handful of rows and sorts a whole scope where an index scan reads a page.
        with connection.cursor() as cursor:
            for model in (ComputeWorkload, Notification, Recommendation, SchedulingOutcome):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
        database_url = _database_url(connection.settings_dict)
        jwt = settings.SIMPLE_JWT
        servers = {
            "pylon": Server(
                "pylon.wsgi:application",
                env={
                    "DATABASE_URL": database_url,
                    "DEBUG": "false",
                    # The throttle runs and counts every request, over a one-second window so that the
                    # benchmark's own load is never refused (its history then holds a second's requests,
                    # fewer than the 1,200 a minute at the production rate may hold).
                    "THROTTLE_USER_RATE": "1000000/s",
                },
                workers=options["workers"],
                cwd=str(settings.BASE_DIR),
            ),
            "reference": Server(
                "workloads.benchmarks.read_reference:application",
                env={
                    "READ_REFERENCE_DATABASE_URL": database_url,
                    "READ_REFERENCE_JWT_KEY": jwt["SIGNING_KEY"],
                    "READ_REFERENCE_JWT_AUDIENCE": jwt["AUDIENCE"],
                    "READ_REFERENCE_JWT_ISSUER": jwt["ISSUER"],
                },
                workers=options["workers"],
                cwd=str(settings.BASE_DIR),
            ),
        }
        try:
            self._measure(servers, callers, options)
        finally:
            for server in servers.values():
                server.stop()

    def _measure(self, servers, callers, options):
        size = options["page_size"]
        people = {"operator": callers.operator, "user": callers.user}
        headers = {caller: {"Authorization": f"Bearer {dataset.access_token(who)}"} for caller, who in people.items()}
        for server in servers.values():
            server.wait_ready(f"{LISTS['workloads'][0]}?page_size={size}", headers["operator"])
        pages = {}
        for name, (path, order) in LISTS.items():
            first = f"{path}?page_size={size}"
            for caller, who in people.items():
                if name == "workloads":
                    rows, in_scope = ComputeWorkload.objects.filter(**callers.scopes[caller]), callers.in_scope[caller]
                elif name == "queue":
                    if caller != "operator":  # users are refused the queue
                        continue
                    rows = ComputeWorkload.objects.filter(**callers.scopes[caller], status=WorkloadStatus.PENDING)
                    in_scope = callers.queue
                else:
                    rows, in_scope = Notification.objects.filter(recipient=who), callers.inbox[caller]
                pages[(name, caller, in_scope, "first page")] = first
                half_way = in_scope // 2 // size * size
                if half_way:
                    cursor = self._cursor(rows.order_by(*order), order, half_way)
                    pages[(name, caller, in_scope, "cursor page, half-way")] = f"{first}&cursor={cursor}"
        for (name, caller, in_scope, page), path in list(pages.items()):
            answers = {name: request(server.port, path, headers[caller]) for name, server in servers.items()}
            bodies = {name: _comparable(body) for name, (status, body) in answers.items() if status == 200}
            if len(bodies) != 2 or bodies["pylon"] != bodies["reference"]:
                self.stdout.write(
                    f"  {name}, {caller}, {page}: Pylon's answer differs from the reference's "
                    f"({_difference(bodies)}): not measured"
                )
                del pages[(name, caller, in_scope, page)]
        figures = {key: {"pylon": [], "reference": []} for key in pages}
        for run in range(options["runs"]):
            order = ["pylon", "reference"] if run % 2 == 0 else ["reference", "pylon"]
            for key, path in pages.items():
                caller = key[1]
                for app in order:
                    result = drive(
                        servers[app].port,
                        path,
                        headers[caller],
                        seconds=options["seconds"],
                        connections=options["connections"],
                    )
                    if result.errors:
                        raise CommandError(f"{app} answered {result.errors} requests with an error ({key})")
                    figures[key][app].append(result.per_second)
        self._report(figures, options)

    def _cursor(self, rows, order, rows_down):
        """A cursor ``rows_down`` rows down ``rows`` (in ``order``), in the format both apps read."""
        if order is QUEUE_ORDER:
            row = rows.values("id", "urgency_rank", "deadline", "submitted_at")[rows_down - 1]
            return encode_queue_cursor(row, reverse=False, count=rows.count())
        time = order[0].lstrip("-")
        row = rows.values("id", time)[rows_down - 1]
        return encode_cursor(row, reverse=False, count=rows.count(), time=time, order=",".join(order))

    def _report(self, figures, options):
        self.stdout.write(
            f"\n{options['workloads']:,} workloads; gunicorn {options['workers']} sync workers each; "
            f"{options['connections']} connections; {options['runs']} alternating runs of {options['seconds']:g} s; "
            f"page_size={options['page_size']}; medians\n"
        )
        header = "| list | caller (rows in scope) | page | Pylon req/s | bare psycopg + orjson req/s | ratio |"
        self.stdout.write(header)
        self.stdout.write("|---|---|---|---|---|---|")
        for (name, caller, in_scope, page), runs in figures.items():
            pylon, reference = statistics.median(runs["pylon"]), statistics.median(runs["reference"])
            ratio = pylon / reference if reference else 0.0
            self.stdout.write(
                f"| {name} | {caller} ({in_scope:,}) | {page} | {pylon:.0f} | {reference:.0f} | {ratio:.2f} |"
            )
