"""Bare list pages read by SQL compiled once per scope shape (``pylon.db.compiled``): the same rows
and bytes as the ORM path, each caller's own rows whoever compiled the statement, prepared on
PostgreSQL; the zones' summaries kept in process and read again when they may have changed."""

from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from notifications.api.serializers import (
    NOTIFICATION_LIST_COLUMNS,
    NotificationSerializer,
    notification_list_representation,
)
from notifications.selectors import notification_list
from pylon.api.renderers import to_json
from pylon.db import compiled
from tests.accounts.factories import OperatorFactory, UserFactory
from tests.notifications.factories import NotificationFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from zones import summaries
from zones.models import GridZone

pytestmark = pytest.mark.django_db

WORKLOADS = "/api/v1/workloads/"
NOTIFICATIONS = "/api/v1/notifications/"
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="compiled reads are PostgreSQL's")


def _ids(body) -> list[str]:
    return [row["id"] for row in body["results"]]


def _finished(user, zones, **fields):
    """A completed run: times, decimals and three of its zones set, the rest left empty."""
    now = timezone.now()
    accounting = {"carbon_emitted_kg": Decimal("0.1234"), "cost_gbp": Decimal("0.3000"), "actual_end": now}
    zone_fields = {"host_dc": zones[0], "chosen_grid_zone": zones[1], "recommended_grid_zone": zones[2]}
    return WorkloadFactory(user=user, status="COMPLETED", actual_start=now, **zone_fields, **accounting, **fields)


@pytest.mark.parametrize("role", ["operator", "user", "service_user"])
def test_a_bare_page_is_what_the_orm_path_gives(make_client, organization, role, request):
    """``?page_size=`` alone is read by compiled SQL; adding any other parameter (here an empty search,
    which filters nothing) takes the ORM path. Both give the same rows, counts and values."""
    zones = GridZoneFactory.create_batch(3)
    owner = UserFactory(organization=organization)
    callers = {"operator": lambda: OperatorFactory(organization=organization), "user": lambda: owner}
    caller = callers[role]() if role in callers else request.getfixturevalue(role)
    for index in range(7):
        _finished(owner, zones, carbon_cap_gco2=Decimal("12.5") if index % 2 else None)
    WorkloadFactory.create_batch(4, user=owner, host_dc=zones[1], deadline=None)
    WorkloadFactory.create_batch(3)  # another organisation's
    client = make_client(caller)
    for _ in range(2):  # the first request compiles, the second runs the kept statement
        url, pages = f"{WORKLOADS}?page_size=4", []
        while url:
            fast = client.get(url).json()
            slow = client.get(url.replace("?", "?search=&", 1)).json()
            assert (fast["count"], fast["results"]) == (slow["count"], slow["results"])
            pages.append(fast)
            url = fast["next"]
        assert sum(len(page["results"]) for page in pages) == (14 if role == "service_user" else 11)


def test_callers_of_one_shape_share_the_statement_and_see_only_their_rows(make_client):
    """Two operators of two organisations and two users: each kind of scope is compiled once, and
    every caller's answer is their own, whoever compiled it first."""
    operators = [OperatorFactory(), OperatorFactory()]
    users = [UserFactory(organization=operator.organization) for operator in operators]
    mine = {user.pk: {str(w.pk) for w in WorkloadFactory.create_batch(3, user=user)} for user in users}
    for _ in range(2):
        for operator, user in zip(operators, users, strict=True):
            assert set(_ids(make_client(operator).get(f"{WORKLOADS}?page_size=10").json())) == mine[user.pk]
            assert set(_ids(make_client(user).get(f"{WORKLOADS}?page_size=10").json())) == mine[user.pk]


@postgresql_only
def test_a_bare_page_runs_as_a_prepared_statement(make_client, user):
    WorkloadFactory.create_batch(3, user=user)
    client = make_client(user)
    client.get(f"{WORKLOADS}?page_size=2")
    client.get(f"{WORKLOADS}?page_size=2")
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("COUNT(*)" in sql and '"workloads_computeworkload"."user_id" = $1' in sql for sql in prepared)
    assert any("LIMIT 3" in sql and '"workloads_computeworkload"."user_id" = $1' in sql for sql in prepared)


@postgresql_only
def test_sql_is_kept_only_when_the_orm_bound_the_parameters_given(user):
    NotificationFactory.create_batch(2, recipient=user)

    def rows():
        return notification_list(fetched_by=user).values("id")

    shape = ("test", "wrong parameters")
    assert len(compiled.values(shape, ["not the user's id"], rows)) == 2  # the ORM's answer
    assert ("values", shape) not in compiled._statements
    for _ in range(2):  # compiled, then run as kept
        assert len(compiled.values(("test", "right parameters"), [user.pk], rows)) == 2
    assert ("values", ("test", "right parameters")) in compiled._statements


def test_the_notifications_fast_output_is_exactly_the_serializers(user):
    workload = WorkloadFactory(user=user, workload_name="naïve “job” ✓")
    NotificationFactory(recipient=user, workload=workload, read_at=timezone.now())
    NotificationFactory(recipient=user, workload=None, body="")
    queryset = notification_list(fetched_by=user)
    fast = notification_list_representation(list(queryset.values(*NOTIFICATION_LIST_COLUMNS)))
    slow = NotificationSerializer(queryset, many=True).data
    assert to_json(fast) == to_json(slow)
    assert list(fast[0]) == list(slow[0])


def test_a_bare_inbox_page_is_what_the_orm_path_gives(make_client, user):
    NotificationFactory.create_batch(5, recipient=user)
    NotificationFactory.create_batch(2, recipient=user, read_at=timezone.now())
    NotificationFactory.create_batch(2)  # someone else's
    client = make_client(user)
    for _ in range(2):
        url, seen = f"{NOTIFICATIONS}?page_size=3", []
        while url:
            body = client.get(url).json()
            assert (
                body["results"]
                == client.get(url.replace("?", "?updated_since=2000-01-01T00:00:00Z&", 1)).json()["results"]
            )
            seen += _ids(body)
            url = body["next"]
        assert len(seen) == len(set(seen)) == 7


class TestZoneSummaries:
    def test_a_page_naming_known_zones_reads_none(self, make_client, user, django_assert_num_queries):
        from conftest import REQUEST_OVERHEAD_QUERIES

        WorkloadFactory.create_batch(3, user=user, host_dc=GridZoneFactory())
        client = make_client(user)
        with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 3):  # count, page, every zone's summary
            client.get(WORKLOADS)
        with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 2):  # count, page
            client.get(WORKLOADS)

    def test_a_zone_saved_here_is_read_again(self, make_client, user):
        zone = GridZoneFactory(zone_name="Before")
        WorkloadFactory(user=user, host_dc=zone)
        client = make_client(user)
        assert client.get(WORKLOADS).json()["results"][0]["host_dc"]["zone_name"] == "Before"
        zone.zone_name = "After"
        zone.save()
        assert client.get(WORKLOADS).json()["results"][0]["host_dc"]["zone_name"] == "After"

    def test_a_change_made_elsewhere_shows_once_the_copy_is_old(self, make_client, user, monkeypatch):
        zone = GridZoneFactory(zone_name="Before")
        WorkloadFactory(user=user, host_dc=zone)
        client = make_client(user)
        client.get(WORKLOADS)
        GridZone.objects.filter(pk=zone.pk).update(zone_name="After")  # no signal: another process's change
        assert client.get(WORKLOADS).json()["results"][0]["host_dc"]["zone_name"] == "Before"
        monkeypatch.setattr(summaries, "MAX_AGE_SECONDS", -1.0)
        assert client.get(WORKLOADS).json()["results"][0]["host_dc"]["zone_name"] == "After"

    def test_the_summary_fields_are_the_serializers(self):
        from zones.api.serializers import GridZoneSummarySerializer

        assert tuple(GridZoneSummarySerializer.Meta.fields) == summaries.FIELDS


def test_the_timelines_fast_output_is_exactly_the_serializers(user, operator):
    from workloads.api.serializers import (
        WORKLOAD_EVENT_COLUMNS,
        WorkloadEventSerializer,
        workload_event_representation,
    )
    from workloads.models import WorkloadEvent
    from workloads.selectors import workload_events

    workload = WorkloadFactory(user=user)
    WorkloadEvent.objects.create(workload=workload, action="submit", from_status=None, to_status="PENDING")
    WorkloadEvent.objects.create(
        workload=workload, action="assign", from_status="PENDING", to_status="SCHEDULED", actor=operator, note="é ✓"
    )
    queryset = workload_events(workload=workload)
    fast = workload_event_representation(list(queryset.values(*WORKLOAD_EVENT_COLUMNS)))
    slow = WorkloadEventSerializer(queryset, many=True).data
    assert to_json(fast) == to_json(slow)
    assert list(fast[0]) == list(slow[0])


def test_a_bare_timeline_page_is_what_the_orm_path_gives(make_client, user, operator):
    from workloads.models import WorkloadEvent

    workload, other = WorkloadFactory(user=user), WorkloadFactory(user=user)
    for target in (workload, other):
        WorkloadEvent.objects.bulk_create(
            WorkloadEvent(
                workload=target, action="reassign", from_status="SCHEDULED", to_status="SCHEDULED", actor=operator
            )
            for _ in range(5)
        )
    for caller in (user, operator):
        client = make_client(caller)
        url, seen = f"{WORKLOADS}{workload.pk}/events/?page_size=2", []
        while url:
            body = client.get(url).json()
            slow = client.get(url.replace("?", "?updated_since=2000-01-01T00:00:00Z&", 1)).json()
            assert (body["count"], body["results"]) == (slow["count"], slow["results"])
            seen += _ids(body)
            url = body["next"]
        assert len(seen) == len(set(seen)) == 5
