"""The workloads list's fast read path: exact output, cursor pagination, fixed query counts."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from django.utils import timezone
from rest_framework.utils.urls import remove_query_param, replace_query_param

from conftest import REQUEST_OVERHEAD_QUERIES
from outbox import services as outbox
from outbox.models import EventType, OutboxEvent
from pylon.api.renderers import to_json
from tests.accounts.factories import OperatorFactory, UserFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads.api.serializers import (
    WORKLOAD_LIST_COLUMNS,
    ComputeWorkloadSerializer,
    workload_list_representation,
    workload_snapshot_representations,
)
from workloads.models import ComputeWorkload
from workloads.selectors import workload_list
from workloads.services import workload_event

pytestmark = pytest.mark.django_db

WORKLOADS = "/api/v1/workloads/"


def _walk(client, url):
    """Follow ``next`` links to the end; every page's rows, in order."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append(body)
        url = body["next"]
    return pages


def _workloads_of_every_kind(user) -> list[ComputeWorkload]:
    """A finished workload with every field set (decimals, times, five zones) and a bare pending one."""
    zones = GridZoneFactory.create_batch(3)
    finished = WorkloadFactory(
        user=user,
        status="COMPLETED",
        host_dc=zones[0],
        chosen_grid_zone=zones[1],
        recommended_grid_zone=zones[1],
        recommended_2_grid_zone=zones[2],
        recommended_3_grid_zone=zones[0],
        planned_start=timezone.now(),
        actual_start=timezone.now(),
        actual_end=timezone.now() + timedelta(minutes=90),
        actual_energy_kwh=Decimal("12.345"),
        carbon_emitted_kg=Decimal("1.2345"),
        cost_gbp=Decimal("3.1"),
        baseline_carbon_kg=Decimal("2"),
        baseline_cost_gbp=Decimal("4.0001"),
        carbon_cap_gco2=Decimal("1500.5"),
        max_price_gbp=Decimal("9.99"),
        workload_name="naïve “quotes” ✓",
    )
    pending = WorkloadFactory(user=user, host_dc=zones[2], deadline=None, estimated_energy_kwh=None)
    return [finished, pending]


def test_the_fast_output_is_exactly_the_serializers(user):
    queryset = workload_list(fetched_by=user).filter(pk__in=[w.pk for w in _workloads_of_every_kind(user)])
    fast = workload_list_representation(list(queryset.values(*WORKLOAD_LIST_COLUMNS)))
    slow = ComputeWorkloadSerializer(queryset, many=True).data
    assert to_json(fast) == to_json(slow)
    assert list(fast[0]) == list(slow[0])  # same fields, same order


def test_an_events_snapshot_is_shaped_exactly_as_the_serializer_shapes_the_workload(user):
    """Webhooks send ``data.workload`` from the snapshot an event recorded (the API's ``ComputeWorkload``)."""
    workloads = _workloads_of_every_kind(user)
    events = outbox.events_record(
        events=[workload_event(w, event_type=EventType.WORKLOAD_SUBMITTED, actor=user) for w in workloads]
    )
    recorded = [OutboxEvent.objects.get(pk=event.pk).payload["workload"] for event in events]  # JSON, as stored
    shaped = workload_snapshot_representations(recorded)
    assert to_json(shaped) == to_json(ComputeWorkloadSerializer(workloads, many=True).data)


class TestCursorPagination:
    @pytest.fixture
    def history(self, user):
        zone = GridZoneFactory()
        now = timezone.now()
        rows = [
            # Two pairs share a submission time: the id must break the tie without losing a row.
            WorkloadFactory(user=user, host_dc=zone, submitted_at=now - timedelta(minutes=index // 2 * 2))
            for index in range(23)
        ]
        WorkloadFactory.create_batch(5)  # another organisation's: never in the walk
        return rows

    def test_following_next_visits_every_row_once_in_order(self, make_client, user, history):
        pages = _walk(make_client(user), f"{WORKLOADS}?page_size=5")
        seen = [row["id"] for page in pages for row in page["results"]]
        expected = ComputeWorkload.objects.filter(user=user).order_by("-submitted_at", "id")
        assert seen == [str(pk) for pk in expected.values_list("pk", flat=True)]
        assert len(pages) == 5
        assert {page["count"] for page in pages} == {23}
        assert "cursor=" in pages[0]["next"] and "page=" not in pages[0]["next"]
        assert pages[0]["previous"] is None and pages[-1]["next"] is None

    def test_previous_goes_back_to_the_same_rows(self, make_client, user, history):
        client = make_client(user)
        first = client.get(f"{WORKLOADS}?page_size=5").json()
        second = client.get(first["next"]).json()
        third = client.get(second["next"]).json()
        assert client.get(third["previous"]).json()["results"] == second["results"]
        back_to_first = client.get(second["previous"]).json()
        assert back_to_first["results"] == first["results"]
        assert back_to_first["next"] is not None

    def test_ascending_order_and_filters_are_kept_by_the_cursor(self, make_client, user, history):
        pages = _walk(make_client(user), f"{WORKLOADS}?page_size=4&ordering=submitted_at&status=PENDING")
        times = [row["submitted_at"] for page in pages for row in page["results"]]
        assert len(times) == 23 and times == sorted(times)

    def test_a_cursor_never_widens_the_scope(self, make_client, user, operator, history):
        """A cursor is only a position: another caller who replays it gets their own rows."""
        stranger = UserFactory()
        WorkloadFactory(user=stranger)
        link = make_client(user).get(f"{WORKLOADS}?page_size=5").json()["next"]
        assert make_client(stranger).get(link).json()["results"] == []
        rows = make_client(operator).get(link).json()["results"]
        assert {row["owner"]["id"] for row in rows} == {str(user.pk)}

    def test_page_numbers_still_work_as_before(self, make_client, user, history):
        body = make_client(user).get(f"{WORKLOADS}?page=2&page_size=5").json()
        assert body["count"] == 23
        assert "page=3" in body["next"] and "page=1" not in body["previous"]  # DRF drops page=1
        assert len(body["results"]) == 5

    def test_orderings_that_cannot_use_a_cursor_link_page_numbers(self, make_client, user, history):
        body = make_client(user).get(f"{WORKLOADS}?page_size=5&ordering=workload_name").json()
        assert "page=2" in body["next"] and "cursor=" not in body["next"]

    @pytest.mark.parametrize(
        "query",
        [
            "cursor=not-a-cursor",
            "cursor=e30",  # {}
            "cursor=eyJvIjoiLXN1Ym1pdHRlZF9hdCxpZCIsInAiOlsieCIsInkiXSwiciI6MCwiYyI6MX0",  # bad position
            "cursor=&page=2",
        ],
    )
    def test_a_bad_cursor_is_a_400_naming_it(self, make_client, user, history, query):
        response = make_client(user).get(f"{WORKLOADS}?{query}")
        assert response.status_code == 400
        assert "cursor" in response.json()["fields"]

    def test_a_cursor_is_refused_with_another_ordering(self, make_client, user, history):
        client = make_client(user)
        link = client.get(f"{WORKLOADS}?page_size=5").json()["next"]
        assert client.get(f"{link}&ordering=submitted_at").status_code == 400
        assert client.get(f"{link}&ordering=workload_name").status_code == 400


@pytest.mark.parametrize("rows", [10, 60])
@pytest.mark.parametrize("role", ["operator", "user"])
def test_cursor_pages_are_never_counted(make_client, organization, django_assert_num_queries, rows, role):
    caller = (
        OperatorFactory(organization=organization) if role == "operator" else UserFactory(organization=organization)
    )
    owner = caller if role == "user" else UserFactory(organization=organization)
    zones = GridZoneFactory.create_batch(5)
    WorkloadFactory.create_batch(
        rows,
        user=owner,
        status="SCHEDULED",
        host_dc=zones[0],
        chosen_grid_zone=zones[1],
        recommended_grid_zone=zones[2],
        recommended_2_grid_zone=zones[3],
        recommended_3_grid_zone=zones[4],
    )
    client = make_client(caller)
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 3):  # count, page with its owners, its zones
        first = client.get(f"{WORKLOADS}?page_size=5").json()
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 1) as captured:  # page: no count, zones known
        second = client.get(first["next"]).json()
    assert not any("COUNT(" in query["sql"].upper() for query in captured.captured_queries)
    assert second["count"] == rows and len(second["results"]) == 5


def test_the_renderer_writes_what_drfs_json_renderer_wrote():
    from rest_framework.renderers import JSONRenderer

    from pylon.api.renderers import ORJSONRenderer

    data = {"a": Decimal("1.50"), "b": [1, None, True], "c": "é\u2603", "d": {"e": 0.1}}
    assert orjson.loads(ORJSONRenderer().render(data)) == orjson.loads(JSONRenderer().render(data))
    assert ORJSONRenderer().render(None) == b""


@pytest.mark.parametrize(
    "query",
    ["page_size=2", "page_size=2&search=&ordering=-submitted_at", "status=PENDING&status=RUNNING&page_size=2&x=%C3%A9"],
)
def test_cursor_links_are_drfs_links_with_the_cursor_replaced(make_client, user, query):
    WorkloadFactory.create_batch(5, user=user, status="PENDING")
    client = make_client(user)
    first = client.get(f"{WORKLOADS}?{query}")
    assert first.status_code == 200, first.content
    second = client.get(first.json()["next"])
    for response in (first, second):
        body = response.json()
        for link in ("next", "previous"):
            if body[link] is None:
                continue
            cursor = parse_qs(urlsplit(body[link]).query)["cursor"][0]
            url = remove_query_param(response.wsgi_request.build_absolute_uri(), "page")
            assert body[link] == replace_query_param(url, "cursor", cursor)
    assert second.json()["previous"] is not None
