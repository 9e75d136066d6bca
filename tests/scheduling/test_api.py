"""The scheduling endpoints: role × endpoint, scoping, query counts, and that preview writes nothing."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import REQUEST_OVERHEAD_QUERIES
from notifications.models import Notification
from scheduling import recompute
from scheduling.models import SchedulingPolicy
from tests.accounts.factories import OperatorFactory, UserFactory
from tests.scheduling.factories import PolicyFactory, WorkloadFactory
from workloads.models import Urgency

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast(user, operator, service_user, organization, other_organization):
    staff_operator = OperatorFactory(organization=organization, is_staff=True)
    return {
        "owner": user,
        "same_org_user": UserFactory(organization=organization),
        "other_org_user": UserFactory(organization=other_organization),
        "operator": operator,
        "staff_operator": staff_operator,
        "other_org_operator": OperatorFactory(organization=other_organization),
        "service": service_user,
    }


@pytest.fixture
def computed(grid_zones, user):
    PolicyFactory(organization=user.organization)
    workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"], deferral_window_mins=0)
    recompute.recommendations_compute(workload_ids=[workload.pk])
    return workload


RECOMMENDATIONS_SEE = {"owner", "operator", "staff_operator", "service"}


@pytest.mark.parametrize(
    "role", ["owner", "same_org_user", "other_org_user", "operator", "staff_operator", "other_org_operator", "service"]
)
def test_recommendations_matrix(cast, computed, make_client, role, grid_zones):
    response = make_client(cast[role]).get(f"/api/v1/workloads/{computed.pk}/recommendations/")
    if role not in RECOMMENDATIONS_SEE:
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        return
    assert response.status_code == 200
    body = response.json()
    assert body["workload"] == str(computed.pk) and body["status"] == "PENDING"
    assert [o["rank"] for o in body["options"]] == [1, 2, 3]
    best = body["options"][0]
    assert best["zone"]["id"] == str(grid_zones["clean"].pk)
    assert best["expected_emissions_g"] == pytest.approx(2500.0)
    assert best["expected_emissions_kg"] == pytest.approx(2.5)
    assert set(best["score_parts"]) == {"carbon", "price", "wait"}
    assert body["outcome"]["feasible"] is True
    assert body["outcome"]["constraint"] is None
    assert body["outcome"]["policy"]["preset"] == "CARBON_FIRST"


def test_recommendations_of_an_unschedulable_workload_say_why(grid_zones, user, make_client):
    workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"], carbon_cap_gco2=Decimal("10"))
    recompute.recommendations_compute(workload_ids=[workload.pk])
    body = make_client(user).get(f"/api/v1/workloads/{workload.pk}/recommendations/").json()
    assert body["options"] == []
    assert body["outcome"]["feasible"] is False
    assert body["outcome"]["constraint"] == "CARBON_CAP"
    assert "cap" in body["outcome"]["message"]


def test_recommendations_before_any_computation(grid_zones, user, make_client):
    workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    body = make_client(user).get(f"/api/v1/workloads/{workload.pk}/recommendations/").json()
    assert body["outcome"] is None and body["options"] == []


def test_recommendations_of_an_unknown_workload_is_404(user, make_client):
    import uuid

    assert make_client(user).get(f"/api/v1/workloads/{uuid.uuid4()}/recommendations/").status_code == 404


QUEUE = "/api/v1/scheduling/queue/"


@pytest.mark.parametrize(
    "role,expected",
    [
        ("owner", 403),
        ("same_org_user", 403),
        ("other_org_user", 403),
        ("operator", 200),
        ("staff_operator", 200),
        ("other_org_operator", 200),
        ("service", 200),
    ],
)
def test_queue_matrix(cast, computed, make_client, role, expected):
    response = make_client(cast[role]).get(QUEUE)
    assert response.status_code == expected
    if expected == 200:
        ids = [row["id"] for row in response.json()["results"]]
        assert ids == ([] if role == "other_org_operator" else [str(computed.pk)])


def test_queue_is_pending_only_most_urgent_first_with_options(grid_zones, user, operator, make_client):
    from datetime import timedelta

    from django.utils import timezone

    def make(urgency, hours=None, **kwargs):
        deadline = None if hours is None else timezone.now() + timedelta(hours=hours)
        return WorkloadFactory(user=user, host_dc=grid_zones["dirty"], urgency=urgency, deadline=deadline, **kwargs)

    low = make(Urgency.LOW, 30)
    high_late = make(Urgency.HIGH, 40)
    high_soon = make(Urgency.HIGH, 10)
    critical = make(Urgency.CRITICAL)
    make(Urgency.CRITICAL, status="SCHEDULED", chosen_grid_zone=grid_zones["mid"])
    recompute.recommendations_compute(workload_ids=[low.pk, high_late.pk, high_soon.pk, critical.pk])

    rows = make_client(operator).get(QUEUE).json()["results"]

    assert [row["id"] for row in rows] == [str(w.pk) for w in (critical, high_soon, high_late, low)]
    assert all(len(row["recommendations"]) >= 1 for row in rows)
    assert rows[0]["scheduling_outcome"]["feasible"] is True


@pytest.mark.parametrize("rows", [3, 30])
def test_queue_query_count_is_fixed(grid_zones, user, operator, make_client, django_assert_num_queries, rows):
    workloads = [WorkloadFactory(user=user, host_dc=grid_zones["dirty"]) for _ in range(rows)]
    recompute.recommendations_compute(workload_ids=[w.pk for w in workloads])
    client = make_client(operator)
    # count, the page (workloads and owners), the options, the outcomes, the zones (not yet kept).
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 5):
        response = client.get(QUEUE)
    assert response.json()["count"] == rows


@pytest.mark.parametrize("role", ["owner", "operator"])
def test_recommendations_query_count_is_fixed(cast, computed, make_client, django_assert_num_queries, role):
    """A workload has at most three options; its list is still a fixed number of queries."""
    client = make_client(cast[role])
    # the workload (in the caller's scope), its outcome, its options with their zones.
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 3):
        body = client.get(f"/api/v1/workloads/{computed.pk}/recommendations/").json()
    assert 1 <= len(body["options"]) <= 3


POLICY = "/api/v1/scheduling/policy/"


@pytest.mark.parametrize(
    "role,read,write",
    [
        ("owner", 200, 403),
        ("same_org_user", 200, 403),
        ("operator", 200, 200),
        ("staff_operator", 200, 200),
    ],
)
def test_policy_matrix_within_the_organisation(cast, make_client, role, read, write, organization):
    client = make_client(cast[role])
    assert client.get(POLICY).status_code == read
    response = client.put(POLICY, {"preset": "CARBON_FIRST", "auto_assign": True}, format="json")
    assert response.status_code == write
    stored = SchedulingPolicy.objects.filter(organization=organization).first()
    if write == 200:
        assert response.json()["preset"] == "CARBON_FIRST" and response.json()["is_default"] is False
        assert (stored.preset, stored.auto_assign, stored.updated_by) == ("CARBON_FIRST", True, cast[role])
    else:
        assert stored is None


def test_the_default_policy_is_balanced_and_reading_it_writes_nothing(user, make_client):
    body = make_client(user).get(POLICY).json()
    assert body["preset"] == "BALANCED" and body["is_default"] is True and body["auto_assign"] is False
    assert (body["carbon_weight"], body["price_weight"], body["wait_weight"]) == (0.4, 0.4, 0.2)
    assert not SchedulingPolicy.objects.exists()


def test_another_organisations_policy_is_404(cast, make_client, organization, other_organization):
    client = make_client(cast["other_org_operator"])
    assert client.get(POLICY, {"organization": str(organization.pk)}).status_code == 404
    response = client.put(f"{POLICY}?organization={organization.pk}", {"preset": "COST_FIRST"}, format="json")
    assert response.status_code == 404
    assert not SchedulingPolicy.objects.exists()
    assert client.get(POLICY, {"organization": str(other_organization.pk)}).status_code == 200


def test_the_service_role_names_the_organisation(service_user, make_client, organization):
    client = make_client(service_user)
    response = client.get(POLICY)
    assert response.status_code == 400 and "organization" in response.json()["fields"]
    assert client.get(POLICY, {"organization": "not-a-uuid"}).status_code == 400
    response = client.put(f"{POLICY}?organization={organization.pk}", {"preset": "COST_FIRST"}, format="json")
    assert response.status_code == 200
    assert SchedulingPolicy.objects.get(organization=organization).preset == "COST_FIRST"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"preset": "CUSTOM", "carbon_weight": 0, "price_weight": 0, "wait_weight": 0}, "carbon_weight"),
        ({"preset": "CUSTOM", "carbon_weight": 11}, "carbon_weight"),
        ({"preset": "CUSTOM", "wait_weight": -1}, "wait_weight"),
        ({"preset": "BALANCED", "price_weight": 1}, "price_weight"),
        ({"preset": "GREENEST"}, "preset"),
        ({"carbon_weight": 1}, "preset"),
        ({"preset": "CUSTOM", "organization": "x"}, "organization"),
        ({"preset": "CUSTOM", "updated_by": "x"}, "updated_by"),
    ],
)
def test_policy_validation(operator, make_client, body, field):
    response = make_client(operator).put(POLICY, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not SchedulingPolicy.objects.exists()


def test_custom_weights(operator, make_client):
    body = {"preset": "CUSTOM", "carbon_weight": "2.5", "price_weight": 0, "wait_weight": "0.125"}
    response = make_client(operator).put(POLICY, body, format="json")
    assert response.status_code == 200
    assert (response.json()["carbon_weight"], response.json()["wait_weight"]) == (2.5, 0.125)


PREVIEW = "/api/v1/scheduling/preview/"


def test_preview_ranks_options_and_writes_nothing(grid_zones, user, make_client):
    PolicyFactory(organization=user.organization)
    body = {
        "workload_name": "What if",
        "host_dc": str(grid_zones["dirty"].pk),
        "estimated_energy_kwh": "10",
        "estimated_duration_mins": 60,
    }
    client = make_client(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(PREVIEW, body, format="json")
    assert response.status_code == 200, response.json()
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []
    data = response.json()
    assert data["feasible"] is True and data["infeasibility"] is None
    assert [o["zone"]["zone_name"] for o in data["options"]] == ["Clean", "Mid", "Dirty"]
    assert data["options"][0]["expected_emissions_kg"] == pytest.approx(0.5)
    assert data["baseline"]["zone"]["id"] == str(grid_zones["dirty"].pk)
    assert data["baseline"]["emissions_kg"] == pytest.approx(3.0)
    assert data["policy"]["preset"] == "CARBON_FIRST"
    assert Notification.objects.count() == 0


def test_preview_of_an_infeasible_workload(grid_zones, user, make_client):
    body = {
        "workload_name": "Too clean",
        "host_dc": str(grid_zones["dirty"].pk),
        "carbon_cap_gco2": "0.01",
        "estimated_energy_kwh": "10",
    }
    data = make_client(user).post(PREVIEW, body, format="json").json()
    assert data["feasible"] is False and data["options"] == []
    assert data["infeasibility"]["constraint"] == "CARBON_CAP"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"workload_name": "x"}, "host_dc"),
        ({"workload_name": "x", "host_dc": "nope"}, "host_dc"),
        ({"workload_name": "x", "host_dc": "ZONE", "status": "SCHEDULED"}, "status"),
        ({"workload_name": "x", "host_dc": "ZONE", "deadline": "2020-01-01T00:00:00Z"}, "deadline"),
    ],
)
def test_preview_validates_like_submission(grid_zones, user, make_client, body, field):
    body = {k: (str(grid_zones["dirty"].pk) if v == "ZONE" else v) for k, v in body.items()}
    response = make_client(user).post(PREVIEW, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_the_service_role_previews_with_the_default_policy(grid_zones, service_user, make_client):
    body = {"workload_name": "x", "host_dc": str(grid_zones["dirty"].pk)}
    response = make_client(service_user).post(PREVIEW, body, format="json")
    assert response.status_code == 200 and response.json()["policy"]["preset"] == "BALANCED"


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_assign_by_recommendation_rank(computed, operator, make_client, rank):
    """POST /workloads/{id}/assign/ with a rank takes that recommendation's zone and start, and the
    event log says which recommendation was taken and why."""
    recommendation = computed.recommendations.get(rank=rank)
    response = make_client(operator).post(
        f"/api/v1/workloads/{computed.id}/assign/", {"rank": rank, "reason": "Cheapest that fits"}
    )
    assert response.status_code == 200, response.json()
    computed.refresh_from_db()
    assert (computed.status, computed.chosen_grid_zone) == ("SCHEDULED", recommendation.zone)
    event = computed.events.get(action="assign")
    assert event.note.startswith(f"Recommendation #{rank}: {recommendation.zone.zone_name}")
    assert event.note.endswith("Cheapest that fits")


def test_override_keeps_the_reason_in_the_event_log(computed, operator, make_client, grid_zones):
    response = make_client(operator).post(
        f"/api/v1/workloads/{computed.id}/assign/",
        {"zone": str(grid_zones["mid"].id), "reason": "Data residency: must stay in Mid"},
    )
    assert response.status_code == 200
    assert computed.events.get(action="assign").note == "Data residency: must stay in Mid"
