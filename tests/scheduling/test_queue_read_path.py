"""The scheduling queue's read path: plain rows shaped exactly as ``QueueEntrySerializer`` shapes them,
cursor pages on the queue's own order (urgency, deadline with NULLs last, submission, id), a fixed
number of queries, and the same scope as before."""

import base64
from datetime import timedelta

import orjson
import pytest
from django.db import connection
from django.utils import timezone

from conftest import REQUEST_OVERHEAD_QUERIES
from pylon.api.renderers import to_json
from pylon.db import compiled
from scheduling import selectors
from scheduling.api.serializers import (
    QUEUE_COLUMNS,
    QUEUE_OPTION_COLUMNS,
    QUEUE_OUTCOME_COLUMNS,
    QueueEntrySerializer,
    queue_representation,
)
from tests.accounts.factories import OperatorFactory, UserFactory
from tests.scheduling.factories import GridZoneFactory, OutcomeFactory, RecommendationFactory, WorkloadFactory
from workloads.models import ComputeWorkload, Urgency

pytestmark = pytest.mark.django_db

QUEUE = "/api/v1/scheduling/queue/"
URGENCIES = [Urgency.LOW, Urgency.MEDIUM, Urgency.HIGH, Urgency.CRITICAL]


def _walk(client, url, link="next"):
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        pages.append(response.json())
        url = pages[-1][link]
    return pages


def _fast(operator) -> list[dict]:
    rows = list(selectors.queue_list(fetched_by=operator).values(*QUEUE_COLUMNS))
    ids = [row["id"] for row in rows]
    options = selectors.queue_options(workload_ids=ids, columns=QUEUE_OPTION_COLUMNS)
    outcomes = selectors.queue_outcomes(workload_ids=ids, columns=QUEUE_OUTCOME_COLUMNS)
    return queue_representation(rows, options, outcomes)


def test_the_fast_output_is_exactly_the_serializers(user, operator):
    zones = GridZoneFactory.create_batch(3)
    full = WorkloadFactory(user=user, urgency=Urgency.CRITICAL, host_dc=zones[0], recommended_grid_zone=zones[1])
    for rank, zone in enumerate(zones, start=1):
        RecommendationFactory(workload=full, rank=rank, zone=zone, forecast_fetched_at=timezone.now())
    OutcomeFactory(workload=full)
    sparse = WorkloadFactory(user=user, deadline=None, estimated_energy_kwh=None, workload_name="naïve “quotes” ✓")
    RecommendationFactory(
        workload=sparse, zone=zones[2], expected_cost_gbp=None, carbon_saving_kg=None, cost_saving_gbp=None
    )
    OutcomeFactory(workload=sparse, baseline_cost_gbp=None, forecast_fetched_at=timezone.now())
    infeasible = WorkloadFactory(user=user, urgency=Urgency.LOW)
    OutcomeFactory(workload=infeasible, feasible=False, constraint="DEADLINE", message="Too late.")
    WorkloadFactory(user=user)  # never computed: no options, no outcome

    fast = _fast(operator)
    slow = QueueEntrySerializer(selectors.queue_with_options(selectors.queue_list(fetched_by=operator)), many=True).data
    assert len(fast) == 4
    assert to_json(fast) == to_json(slow)
    assert [list(item) for item in fast] == [list(item) for item in slow]  # same fields, same order
    assert list(fast[0]["recommendations"][0]) == list(slow[0]["recommendations"][0])


@pytest.fixture
def queue(user, organization):
    """60 PENDING workloads of every urgency, a third without a deadline, with shared deadlines and
    shared submission times (only the id tells those apart), a few with options; and rows the queue
    must leave out."""
    zone = GridZoneFactory()
    now = timezone.now()
    other = UserFactory(organization=organization)
    rows = []
    for index in range(60):
        deadline = None if index % 3 == 0 else now + timedelta(hours=10 + index % 4)
        rows.append(
            WorkloadFactory(
                user=user if index % 2 else other,
                host_dc=zone,
                urgency=URGENCIES[index % 4 if index < 40 else 1],
                deadline=deadline,
                submitted_at=now - timedelta(minutes=index % 5),
            )
        )
    for workload in rows[::9]:
        RecommendationFactory(workload=workload, zone=zone)
    WorkloadFactory(user=user, host_dc=zone, status="CANCELLED")
    WorkloadFactory.create_batch(3, host_dc=zone)  # another organisation's
    return rows


def _expected(operator) -> list[str]:
    return [str(pk) for pk in selectors.queue_list(fetched_by=operator).values_list("pk", flat=True)]


def test_next_walks_the_whole_queue_in_order_once(make_client, operator, queue):
    pages = _walk(make_client(operator), f"{QUEUE}?page_size=7")
    seen = [row["id"] for page in pages for row in page["results"]]
    assert len(seen) == 60 and seen == _expected(operator)
    # The order the serializer path gives, written out: urgency, deadline (NULLs last), submission, id.
    by_key = sorted(
        ComputeWorkload.objects.filter(pk__in=[w.pk for w in queue]),
        key=lambda w: (-w.urgency_rank, w.deadline is None, w.deadline or w.submitted_at, w.submitted_at, str(w.pk)),
    )
    assert seen == [str(w.pk) for w in by_key]
    assert len(pages) == 9 and {page["count"] for page in pages} == {60}
    assert "cursor=" in pages[0]["next"] and "page=" not in pages[0]["next"]
    assert pages[0]["previous"] is None and pages[-1]["next"] is None


def test_previous_walks_back_to_the_first_page(make_client, operator, queue):
    client = make_client(operator)
    forward = _walk(client, f"{QUEUE}?page_size=7")
    backward = _walk(client, forward[-1]["previous"], link="previous")
    assert [page["results"] for page in reversed(backward)] == [page["results"] for page in forward[:-1]]


def test_page_numbers_still_work_as_before(make_client, operator, queue):
    body = make_client(operator).get(f"{QUEUE}?page=2&page_size=7").json()
    assert body["count"] == 60
    assert "page=3" in body["next"] and "page=1" not in body["previous"]
    assert [row["id"] for row in body["results"]] == _expected(operator)[7:14]


def test_a_cursor_never_widens_the_scope(make_client, operator, other_organization, user, queue):
    """A cursor is a position only: replayed by another organisation's operator it reads their queue."""
    link = make_client(operator).get(f"{QUEUE}?page_size=7").json()["next"]
    stranger = OperatorFactory(organization=other_organization)
    assert make_client(stranger).get(link).json()["results"] == []
    assert make_client(stranger).get(QUEUE).json() == {"count": 0, "next": None, "previous": None, "results": []}
    assert make_client(user).get(link).status_code == 403


def _cursor(payload) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


@pytest.mark.parametrize(
    "position",
    [
        [None, None, "2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"],  # the rank is never NULL
        ["3", None, "2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"],  # a rank is a number
        [3, "2026-01-01T00:00:00", "2026-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"],  # naive
        [3, None, "2026-01-01T00:00:00+00:00"],  # a key short
    ],
)
def test_a_bad_cursor_is_a_400_naming_it(make_client, operator, queue, position):
    cursor = _cursor({"o": "-urgency_rank,deadline,submitted_at,id", "p": position, "r": 0, "c": 1})
    response = make_client(operator).get(f"{QUEUE}?cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in response.json()["fields"]


def test_a_workloads_list_cursor_is_refused(make_client, operator, queue):
    link = make_client(operator).get("/api/v1/workloads/?page_size=5").json()["next"]
    response = make_client(operator).get(f"{QUEUE}?{link.split('?')[1]}")
    assert response.status_code == 400
    assert "another ordering" in response.json()["fields"]["cursor"][0]["message"]


@pytest.mark.parametrize("rows", [10, 60])
@pytest.mark.parametrize("role", ["operator", "service"])
def test_query_count_is_fixed(make_client, organization, django_assert_num_queries, rows, role, service_user):
    caller = OperatorFactory(organization=organization) if role == "operator" else service_user
    owner = UserFactory(organization=organization)
    zones = GridZoneFactory.create_batch(3)
    for index in range(rows):
        workload = WorkloadFactory(user=owner, host_dc=zones[0], deadline=None if index % 2 else timezone.now())
        for rank, zone in enumerate(zones, start=1):
            RecommendationFactory(workload=workload, rank=rank, zone=zone)
        OutcomeFactory(workload=workload)
    client = make_client(caller)
    # count, the page with its owners, the options, the outcomes, the zones (not yet kept)
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 5):
        first = client.get(f"{QUEUE}?page_size=5").json()
    # the page, the options, the outcomes: never counted again, the zones kept
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 3) as captured:
        second = client.get(first["next"]).json()
    assert not any("COUNT(" in query["sql"].upper() for query in captured.captured_queries)
    assert second["count"] == rows and len(second["results"]) == 5
    assert all(len(row["recommendations"]) == 3 and row["scheduling_outcome"] for row in second["results"])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="compiled reads are PostgreSQL's")
def test_the_page_its_options_and_outcomes_are_read_by_kept_statements(make_client, operator, queue):
    """A bare page of the queue, its options and its outcomes are compiled once per shape and then
    run as prepared statements, each with the caller's own values (the walk above checks the rows)."""
    client = make_client(operator)
    first = _walk(client, f"{QUEUE}?page_size=7")
    again = _walk(client, f"{QUEUE}?page_size=7")
    assert again == first
    kept = {shape[1][0] for shape in compiled._statements if isinstance(shape[1], tuple)}
    assert {"queue", "queue_options", "queue_outcomes"} <= kept
