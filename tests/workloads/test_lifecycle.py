"""The lifecycle: the state machine, who may take each action, the accounting, concurrency, stats."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from conftest import REQUEST_OVERHEAD_QUERIES, client_for
from tests.accounts.factories import OperatorFactory, ServiceUserFactory, UserFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads.models import ComputeWorkload, WorkloadEvent, WorkloadStatus
from workloads.state_machine import TRANSITIONS, InvalidTransition, WorkloadAction, next_status

WORKLOADS = "/api/v1/workloads/"
S = WorkloadStatus


class TestStateMachine:
    @pytest.mark.parametrize("action", list(TRANSITIONS))
    @pytest.mark.parametrize("status", list(S.values))
    def test_every_pair_follows_the_table(self, action, status):
        sources, target = TRANSITIONS[action]
        if status in sources:
            assert next_status(action, status) == target
        else:
            with pytest.raises(InvalidTransition):
                next_status(action, status)

    def test_finished_statuses_are_terminal(self):
        for status in (S.COMPLETED, S.FAILED, S.CANCELLED):
            assert not any(status in sources for sources, _ in TRANSITIONS.values())


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("owner", "PENDING or SCHEDULED"), ("operator", "PENDING, SCHEDULED or RUNNING")],
)
def test_a_refused_cancel_lists_what_this_caller_may_cancel(user, operator, role, allowed):
    """An owner may not cancel a RUNNING workload, so their refusal must not offer it."""
    workload = WorkloadFactory(user=user, status=S.CANCELLED)
    response = client_for(user if role == "owner" else operator).post(f"{WORKLOADS}{workload.pk}/cancel/", {})
    assert response.status_code == 409
    assert response.json()["message"] == f"Cannot cancel a workload that is CANCELLED; it must be {allowed}."


ROLES = ["anonymous", "owner", "colleague", "stranger", "operator", "other_operator", "staff"]


@pytest.fixture
def cast(organization, other_organization):
    owner = UserFactory(organization=organization)
    return {
        "anonymous": None,
        "owner": owner,
        "colleague": UserFactory(organization=organization),
        "stranger": UserFactory(organization=other_organization),
        "operator": OperatorFactory(organization=organization),
        "other_operator": OperatorFactory(organization=other_organization),
        "staff": ServiceUserFactory(),
    }


def _workload(cast, status, zone):
    fields = {"chosen_grid_zone": zone} if status != S.PENDING else {}
    if status == S.RUNNING:
        fields["actual_start"] = timezone.now() - timedelta(hours=1)
    return WorkloadFactory(user=cast["owner"], status=status, **fields)


# action → (starting status, body, status after success, {role: expected HTTP status})
HIDDEN = {"anonymous": 401, "colleague": 404, "stranger": 404, "other_operator": 404}
MATRIX = {
    "retrieve": (S.PENDING, None, S.PENDING, {**HIDDEN, "owner": 200, "operator": 200, "staff": 200}),
    "events": (S.PENDING, None, S.PENDING, {**HIDDEN, "owner": 200, "operator": 200, "staff": 200}),
    "partial_update": (
        S.PENDING,
        {"workload_name": "Changed"},
        S.PENDING,
        {**HIDDEN, "owner": 200, "operator": 403, "staff": 200},
    ),
    "cancel": (S.PENDING, {}, S.CANCELLED, {**HIDDEN, "owner": 200, "operator": 200, "staff": 200}),
    "cancel_running": (S.RUNNING, {}, S.CANCELLED, {**HIDDEN, "owner": 403, "operator": 200, "staff": 200}),
    "assign": (S.PENDING, "zone", S.SCHEDULED, {**HIDDEN, "owner": 403, "operator": 200, "staff": 200}),
    "start": (S.SCHEDULED, {}, S.RUNNING, {**HIDDEN, "owner": 403, "operator": 200, "staff": 200}),
    "complete": (
        S.RUNNING,
        {"measured_energy_kwh": "10"},
        S.COMPLETED,
        {**HIDDEN, "owner": 403, "operator": 200, "staff": 200},
    ),
    "fail": (S.RUNNING, {"note": "OOM"}, S.FAILED, {**HIDDEN, "owner": 403, "operator": 200, "staff": 200}),
}


def _request(client, action, workload, body, zone):
    url = f"{WORKLOADS}{workload.id}/"
    if body == "zone":
        body = {"zone": str(zone.id), "reason": "Operator's choice"}
    if action == "retrieve":
        return client.get(url)
    if action == "events":
        return client.get(f"{url}events/")
    if action == "partial_update":
        return client.patch(url, body)
    verb = "cancel" if action == "cancel_running" else action
    return client.post(f"{url}{verb}/", body)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(MATRIX))
def test_permission_matrix(cast, role, action):
    zone = GridZoneFactory()
    start_status, body, success_status, expected = MATRIX[action]
    workload = _workload(cast, start_status, zone)
    events_before = WorkloadEvent.objects.filter(workload=workload).count()
    response = _request(client_for(cast[role]), action, workload, body, zone)
    assert response.status_code == expected[role], (role, action, response.content)
    workload.refresh_from_db()
    if response.status_code == 200 and action not in ("retrieve", "events"):
        assert workload.status == success_status
        if action == "partial_update":
            assert workload.workload_name == "Changed"
        else:
            event = WorkloadEvent.objects.filter(workload=workload).latest("id")
            assert (event.from_status, event.to_status, event.actor) == (start_status, success_status, cast[role])
    else:
        assert workload.status == start_status
        if action not in ("retrieve", "events"):
            assert WorkloadEvent.objects.filter(workload=workload).count() == events_before
        assert workload.workload_name != "Changed"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_list_and_stats_matrix(cast, role):
    zone = GridZoneFactory()
    own = _workload(cast, S.PENDING, zone)
    colleagues = WorkloadFactory(user=cast["colleague"])
    strangers = WorkloadFactory(user=cast["stranger"])
    expected = {
        "anonymous": None,
        "owner": {own},
        "colleague": {colleagues},
        "stranger": {strangers},
        "operator": {own, colleagues},
        "other_operator": {strangers},
        "staff": {own, colleagues, strangers},
    }[role]
    client = client_for(cast[role])
    response = client.get(WORKLOADS)
    stats = client.get(f"{WORKLOADS}stats/")
    if expected is None:
        assert response.status_code == stats.status_code == 401
        return
    assert {row["id"] for row in response.json()["results"]} == {str(w.id) for w in expected}
    assert stats.json()["total"] == len(expected)
    assert {row["id"] for row in stats.json()["recent"]} == {str(w.id) for w in expected}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_create_matrix(cast, role):
    zone = GridZoneFactory()
    body = {"workload_name": "Mine", "host_dc": str(zone.id)}
    response = client_for(cast[role]).post(WORKLOADS, body)
    expected = {"anonymous": 401, "staff": 403}.get(role, 201)
    assert response.status_code == expected, response.content
    if expected == 201:
        assert ComputeWorkload.objects.get(pk=response.json()["id"]).user == cast[role]
    else:
        assert not ComputeWorkload.objects.exists()


@pytest.mark.django_db
class TestTransitionsThroughTheApi:
    @pytest.mark.parametrize(
        "status,verb",
        [
            (S.PENDING, "start"),
            (S.PENDING, "complete"),
            (S.SCHEDULED, "complete"),
            (S.COMPLETED, "cancel"),
            (S.CANCELLED, "assign"),
            (S.FAILED, "start"),
            (S.SCHEDULED, "assign"),
        ],
    )
    def test_illegal_moves_are_409_and_change_nothing(self, operator, status, verb):
        zone = GridZoneFactory()
        workload = WorkloadFactory(
            user=UserFactory(organization=operator.organization),
            status=status,
            chosen_grid_zone=zone if status != S.PENDING else None,
        )
        body = {"zone": str(zone.id), "reason": "test"} if verb == "assign" else {}
        response = client_for(operator).post(f"{WORKLOADS}{workload.id}/{verb}/", body)
        assert response.status_code == 409
        assert response.json()["code"] == "invalid_transition"
        workload.refresh_from_db()
        assert workload.status == status
        assert not WorkloadEvent.objects.filter(workload=workload).exists()

    def test_full_life_with_reassign(self, operator, user):
        glasgow, cardiff = GridZoneFactory(), GridZoneFactory()
        workload = WorkloadFactory(user=user, organization=operator.organization)
        client = client_for(operator)
        url = f"{WORKLOADS}{workload.id}/"
        assert client.post(f"{url}assign/", {"zone": str(glasgow.id), "reason": "Close to data"}).status_code == 200
        moved = client.post(f"{url}assign/", {"zone": str(cardiff.id), "reassign": True, "reason": "Glasgow full"})
        assert moved.status_code == 200
        assert moved.json()["chosen_grid_zone"]["id"] == str(cardiff.id)
        assert client.post(f"{url}start/").status_code == 200
        assert client.post(f"{url}complete/", {"measured_energy_kwh": "12.5"}).status_code == 200
        timeline = client_for(user).get(f"{url}events/").json()["results"]
        assert [(e["action"], e["from_status"], e["to_status"]) for e in timeline] == [
            ("assign", "PENDING", "SCHEDULED"),
            ("reassign", "SCHEDULED", "SCHEDULED"),
            ("start", "SCHEDULED", "RUNNING"),
            ("complete", "RUNNING", "COMPLETED"),
        ]
        assert timeline[1]["note"] == "Glasgow full"
        assert timeline[1]["actor"]["id"] == str(operator.id)

    def test_assign_checks_the_planned_start(self, operator, user):
        zone = GridZoneFactory()
        workload = WorkloadFactory(user=user, deadline=timezone.now() + timedelta(hours=3), estimated_duration_mins=120)
        client = client_for(operator)
        late = (timezone.now() + timedelta(hours=2)).isoformat()
        past = (timezone.now() - timedelta(hours=2)).isoformat()
        for start in (late, past):
            body = {"zone": str(zone.id), "start": start, "reason": "test"}
            response = client.post(f"{WORKLOADS}{workload.id}/assign/", body)
            assert response.status_code == 400
            assert "planned_start" in response.json()["fields"]
        workload.refresh_from_db()
        assert workload.status == S.PENDING

    @pytest.mark.parametrize(
        "body,field",
        [
            ({}, "non_field_errors"),
            ({"rank": 1, "zone": "ZONE", "reason": "both"}, "non_field_errors"),
            ({"zone": "ZONE"}, "reason"),
            ({"zone": "ZONE", "reason": "   "}, "reason"),
            ({"rank": 1, "start": "2030-01-01T00:00:00Z"}, "start"),
            ({"rank": 4}, "rank"),
            ({"rank": 1}, "rank"),  # no recommendation has been computed for it
        ],
    )
    def test_assign_needs_a_rank_or_a_zone_with_a_reason(self, operator, user, body, field):
        zone = GridZoneFactory()
        workload = WorkloadFactory(user=user)
        body = {key: str(zone.id) if value == "ZONE" else value for key, value in body.items()}
        response = client_for(operator).post(f"{WORKLOADS}{workload.id}/assign/", body)
        assert response.status_code == 400
        assert field in response.json()["fields"]
        workload.refresh_from_db()
        assert workload.status == S.PENDING

    def test_assign_to_an_unknown_zone_is_a_400(self, operator, user):
        workload = WorkloadFactory(user=user)
        response = client_for(operator).post(
            f"{WORKLOADS}{workload.id}/assign/", {"zone": "00000000-0000-0000-0000-000000000000", "reason": "x"}
        )
        assert response.status_code == 400
        assert response.json()["fields"]["zone"][0]["message"] == "No grid zone has this id."


@pytest.mark.django_db
class TestAccounting:
    def test_complete_computes_emissions_cost_and_baseline(self, operator, user):
        host = GridZoneFactory(carbon_intensity=Decimal("300"), energy_price=Decimal("0.30"))
        clean = GridZoneFactory(carbon_intensity=Decimal("100"), energy_price=Decimal("0.20"))
        workload = WorkloadFactory(user=user, host_dc=host, estimated_energy_kwh=Decimal("40"))
        client = client_for(operator)
        url = f"{WORKLOADS}{workload.id}/"
        client.post(f"{url}assign/", {"zone": str(clean.id), "reason": "Cleaner grid"})
        client.post(f"{url}start/")
        body = client.post(f"{url}complete/", {"measured_energy_kwh": "50"}).json()
        assert Decimal(str(body["carbon_emitted_kg"])) == Decimal("5")  # 50 kWh × 100 g/kWh
        assert Decimal(str(body["cost_gbp"])) == Decimal("10")  # 50 kWh × £0.20
        assert Decimal(str(body["baseline_carbon_kg"])) == Decimal("15")  # 50 kWh × 300 g/kWh
        assert Decimal(str(body["baseline_cost_gbp"])) == Decimal("15")
        assert body["actual_start"] and body["actual_end"]

    def test_complete_without_any_energy_uses_the_power_model(self, operator, user):
        zone = GridZoneFactory(carbon_intensity=Decimal("200"))
        workload = WorkloadFactory(
            user=user,
            status=S.RUNNING,
            chosen_grid_zone=zone,
            estimated_energy_kwh=None,
            required_gpu_mins=Decimal("120"),
            estimated_duration_mins=120,
            required_cpu_cores=0,
            required_memory_gb=Decimal("0"),
            actual_start=timezone.now() - timedelta(hours=2),
        )
        response = client_for(operator).post(f"{WORKLOADS}{workload.id}/complete/", {})
        assert response.status_code == 200
        # One GPU for two hours: 300 W × PUE 1.5 × 2 h = 0.9 kWh; at 200 g/kWh that is 0.18 kg.
        assert Decimal(str(response.json()["carbon_emitted_kg"])) == pytest.approx(
            Decimal("0.18"), abs=Decimal("0.001")
        )

    def test_stats_on_known_data(self, user):
        zone = GridZoneFactory()
        done = dict(status=S.COMPLETED, chosen_grid_zone=zone, user=user, actual_end=timezone.now())
        WorkloadFactory(
            **done,
            estimated_energy_kwh=Decimal("10"),
            carbon_emitted_kg=Decimal("1"),
            baseline_carbon_kg=Decimal("3"),
            cost_gbp=Decimal("2"),
            baseline_cost_gbp=Decimal("2.5"),
        )
        WorkloadFactory(
            **done,
            estimated_energy_kwh=Decimal("20"),
            carbon_emitted_kg=Decimal("6"),
            baseline_carbon_kg=Decimal("5"),
            cost_gbp=Decimal("4"),
            baseline_cost_gbp=Decimal("5"),
        )
        WorkloadFactory(user=user)
        WorkloadFactory(user=user, status=S.SCHEDULED, chosen_grid_zone=zone)
        WorkloadFactory(user=user, status=S.RUNNING, chosen_grid_zone=zone)
        WorkloadFactory(user=user, status=S.FAILED, chosen_grid_zone=zone)
        body = client_for(user).get(f"{WORKLOADS}stats/").json()
        assert body["counts_by_status"] == {
            "PENDING": 1,
            "SCHEDULED": 1,
            "RUNNING": 1,
            "COMPLETED": 2,
            "FAILED": 1,
            "CANCELLED": 0,
        }
        assert (body["total"], body["active"], body["queued"], body["completed"]) == (6, 1, 2, 2)
        assert Decimal(str(body["carbon_saved_kg"])) == Decimal("1")  # (3 − 1) + (5 − 6)
        assert Decimal(str(body["cost_saved_gbp"])) == Decimal("1.5")  # (2.5 − 2) + (5 − 4)
        assert Decimal(str(body["carbon_emitted_kg"])) == Decimal("7")
        assert len(body["recent"]) == 4

    def test_carbon_level_uses_the_bands_of_the_year(self, user):
        zone = GridZoneFactory()
        end = timezone.now().replace(year=2026)
        # 100 g/kWh: "moderate" under 2026's bands (90–169), "low" under 2023's (40–119).
        WorkloadFactory(
            user=user,
            status=S.COMPLETED,
            chosen_grid_zone=zone,
            actual_end=end,
            estimated_energy_kwh=Decimal("10"),
            carbon_emitted_kg=Decimal("1"),
        )
        WorkloadFactory(
            user=user,
            status=S.COMPLETED,
            chosen_grid_zone=zone,
            actual_end=end.replace(year=2023),
            estimated_energy_kwh=Decimal("10"),
            carbon_emitted_kg=Decimal("1"),
        )
        WorkloadFactory(user=user)
        levels = sorted(str(row["carbon_level"]) for row in client_for(user).get(f"{WORKLOADS}stats/").json()["recent"])
        assert levels == ["None", "low", "moderate"]

    @pytest.mark.parametrize("rows", [10, 100])
    def test_stats_query_count_is_fixed(self, operator, django_assert_num_queries, rows):
        zone = GridZoneFactory()
        owner = UserFactory(organization=operator.organization)
        WorkloadFactory.create_batch(
            rows,
            user=owner,
            status=S.COMPLETED,
            chosen_grid_zone=zone,
            carbon_emitted_kg=Decimal("1"),
            baseline_carbon_kg=Decimal("2"),
        )
        client = client_for(operator)
        # counts, sums, recent; an operator also members and their figures (test_operator_stats.py)
        with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 5):
            body = client.get(f"{WORKLOADS}stats/").json()
        assert body["completed"] == rows


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row locks need PostgreSQL; SQLite serialises")
def test_two_operators_assigning_at_once_exactly_one_wins():
    from tests.accounts.factories import OrganizationFactory

    organization = OrganizationFactory()
    operators = OperatorFactory.create_batch(2, organization=organization)
    zones = GridZoneFactory.create_batch(2)
    for _ in range(5):
        workload = WorkloadFactory(user=UserFactory(organization=organization))
        barrier = threading.Barrier(2)
        results: list[int] = []

        def assign(operator, zone, workload=workload, barrier=barrier, results=results):
            client = client_for(operator)
            barrier.wait()
            body = {"zone": str(zone.id), "reason": "race"}
            results.append(client.post(f"{WORKLOADS}{workload.id}/assign/", body).status_code)
            connection.close()

        threads = [threading.Thread(target=assign, args=(op, zone)) for op, zone in zip(operators, zones, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [200, 409]
        workload.refresh_from_db()
        assert workload.status == S.SCHEDULED
        assert WorkloadEvent.objects.filter(workload=workload, action=WorkloadAction.ASSIGN).count() == 1


@pytest.mark.django_db
def test_owner_cannot_cancel_a_run_that_started_after_they_read_it(user, operator):
    """The owner's rule (no cancelling a RUNNING workload) is checked on the locked row, not on the
    copy read before an operator started it."""
    from workloads import services

    zone = GridZoneFactory()
    workload = WorkloadFactory(user=user, status=S.SCHEDULED, chosen_grid_zone=zone)
    stale = ComputeWorkload.objects.get(pk=workload.pk)  # what the owner's request read
    services.workload_start(workload=workload, actor=operator)
    with pytest.raises(PermissionDenied):
        services.workload_cancel(workload=stale, actor=user)
    workload.refresh_from_db()
    assert workload.status == S.RUNNING


@pytest.mark.django_db
def test_the_deadline_check_of_an_assignment_reads_the_locked_row(user, operator):
    from workloads import services

    zone = GridZoneFactory()
    workload = WorkloadFactory(user=user, deadline=timezone.now() + timedelta(days=2), estimated_duration_mins=60)
    stale = ComputeWorkload.objects.get(pk=workload.pk)
    ComputeWorkload.objects.filter(pk=workload.pk).update(deadline=timezone.now() + timedelta(hours=2))
    with pytest.raises(ValidationError):
        services.workload_assign(
            workload=stale, actor=operator, zone=zone, planned_start=timezone.now() + timedelta(hours=3)
        )
    workload.refresh_from_db()
    assert workload.status == S.PENDING


@pytest.mark.django_db
def test_a_write_that_leaves_the_callers_scope_is_rolled_back(user, monkeypatch):
    """After a write the row is read back through the selector (NetBox's check): if the caller could
    no longer see it, the request fails with 403 and nothing is kept."""
    from workloads.api import views

    workload = WorkloadFactory(user=user)
    monkeypatch.setattr(views.WorkloadViewSet, "_visible_after_write", lambda self, pk: None)
    response = client_for(user).patch(f"{WORKLOADS}{workload.id}/", {"workload_name": "Escaped"})
    assert response.status_code == 403
    workload.refresh_from_db()
    assert workload.workload_name != "Escaped"
