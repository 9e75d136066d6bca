"""Submission, reading and owner edits of workloads, with the access rules of the old RLS policies."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from conftest import REQUEST_OVERHEAD_QUERIES
from tests.accounts.factories import OperatorFactory, UserFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads.api.serializers import SYSTEM_FIELDS
from workloads.models import ComputeWorkload, WorkloadEvent, WorkloadStatus

pytestmark = pytest.mark.django_db

WORKLOADS = "/api/v1/workloads/"


@pytest.fixture
def zone(db):
    return GridZoneFactory()


def submission(zone, **overrides):
    return {
        "workload_name": "Nightly fine-tune",
        "workload_type": "FINE_TUNING",
        "urgency": "LOW",
        "host_dc": str(zone.id),
        "required_gpu_mins": "240",
        "required_cpu_cores": 16,
        "required_memory_gb": "128",
        "estimated_energy_kwh": "42.5",
        "carbon_cap_gco2": "15000",
        "max_price_gbp": "25",
        "deferral_window_mins": 360,
        "deadline": (timezone.now() + timedelta(days=1)).isoformat(),
        "is_deferrable": True,
        **overrides,
    }


def ids(response) -> set[str]:
    return {row["id"] for row in response.json()["results"]}


class TestSubmit:
    def test_owner_and_organisation_come_from_the_caller(self, make_client, user, zone):
        response = make_client(user).post(WORKLOADS, submission(zone))
        assert response.status_code == 201, response.json()
        body = response.json()
        workload = ComputeWorkload.objects.get(pk=body["id"])
        assert workload.user == user
        assert workload.organization == user.organization
        assert workload.status == WorkloadStatus.PENDING
        assert body["owner"]["id"] == str(user.id)
        assert body["job_id"].startswith("JOB-")
        assert body["host_dc"]["id"] == str(zone.id)
        assert workload.estimated_energy_kwh == Decimal("42.5")
        assert list(workload.events.values_list("action", "from_status", "to_status")) == [("submit", None, "PENDING")]

    def test_duration_defaults_to_gpu_minutes_else_an_hour(self, make_client, user, zone):
        client = make_client(user)
        with_gpu = client.post(WORKLOADS, submission(zone, required_gpu_mins="90", deferral_window_mins=0))
        without_gpu = client.post(WORKLOADS, submission(zone, required_gpu_mins="0", deferral_window_mins=0))
        assert with_gpu.json()["estimated_duration_mins"] == 90
        assert without_gpu.json()["estimated_duration_mins"] == 60

    @pytest.mark.parametrize("field", sorted(set(SYSTEM_FIELDS) - {"id"}))
    def test_system_fields_are_refused_by_name(self, make_client, user, zone, field):
        response = make_client(user).post(WORKLOADS, {**submission(zone), field: "x"})
        assert response.status_code == 400
        problems = response.json()["fields"]
        assert list(problems) == [field]
        assert problems[field][0]["message"] == "This field is set by Pylon and cannot be written."
        assert not ComputeWorkload.objects.exists()

    @pytest.mark.parametrize(
        "overrides,field",
        [
            ({"required_gpu_mins": "-1"}, "required_gpu_mins"),
            ({"required_cpu_cores": -2}, "required_cpu_cores"),
            ({"required_memory_gb": "-0.5"}, "required_memory_gb"),
            ({"carbon_cap_gco2": "0"}, "carbon_cap_gco2"),
            ({"max_price_gbp": "-3"}, "max_price_gbp"),
            ({"deadline": "2001-01-01T00:00:00Z"}, "deadline"),
            ({"deadline": "not a date"}, "deadline"),
            ({"deadline": "2030-13-45T99:00:00Z"}, "deadline"),
            ({"host_dc": "00000000-0000-0000-0000-000000000000"}, "host_dc"),
            ({"host_dc": "not-a-uuid"}, "host_dc"),
            ({"host_dc": 12}, "host_dc"),
            ({"urgency": "WHENEVER"}, "urgency"),
            ({"workload_type": None}, "workload_type"),
            ({"required_cpu_cores": 10**30}, "required_cpu_cores"),
            ({"estimated_energy_kwh": "1e400"}, "estimated_energy_kwh"),
            ({"required_gpu_mins": "NaN"}, "required_gpu_mins"),
            ({"workload_name": "x\u0000y"}, "workload_name"),
            ({"workload_name": ""}, "workload_name"),
            ({"workload_name": "n" * 201}, "workload_name"),
            ({"is_deferrable": "perhaps"}, "is_deferrable"),
            ({"deferral_window_mins": 10**9}, "deferral_window_mins"),
        ],
    )
    def test_bad_input_is_a_400_naming_the_field(self, make_client, user, zone, overrides, field):
        response = make_client(user).post(WORKLOADS, submission(zone, **overrides))
        assert response.status_code == 400, response.content
        assert field in response.json()["fields"]
        assert not ComputeWorkload.objects.exists()

    def test_deadline_must_leave_room_for_the_run(self, make_client, user, zone):
        soon = (timezone.now() + timedelta(minutes=30)).isoformat()
        response = make_client(user).post(
            WORKLOADS, submission(zone, deadline=soon, estimated_duration_mins=120, deferral_window_mins=0)
        )
        assert response.status_code == 400
        assert "estimated duration" in response.json()["fields"]["deadline"][0]["message"]

    def test_deferral_window_must_fit_before_the_deadline(self, make_client, user, zone):
        deadline = (timezone.now() + timedelta(hours=5)).isoformat()
        response = make_client(user).post(
            WORKLOADS, submission(zone, deadline=deadline, estimated_duration_mins=120, deferral_window_mins=240)
        )
        assert response.status_code == 400
        assert "deferral_window_mins" in response.json()["fields"]
        # A non-deferrable workload does not wait, so the same window is no problem.
        response = make_client(user).post(
            WORKLOADS,
            submission(
                zone, deadline=deadline, estimated_duration_mins=120, deferral_window_mins=240, is_deferrable=False
            ),
        )
        assert response.status_code == 201

    def test_missing_required_fields(self, make_client, user):
        response = make_client(user).post(WORKLOADS, {})
        assert response.status_code == 400
        assert {"workload_name", "host_dc"} <= set(response.json()["fields"])


class TestVisibility:
    @pytest.fixture
    def world(self, organization, other_organization):
        owner = UserFactory(organization=organization)
        colleague = UserFactory(organization=organization)
        stranger = UserFactory(organization=other_organization)
        return {
            "owner": owner,
            "colleague": colleague,
            "stranger": stranger,
            "own": WorkloadFactory(user=owner),
            "colleagues": WorkloadFactory(user=colleague),
            "strangers": WorkloadFactory(user=stranger),
        }

    def test_user_lists_only_their_own(self, make_client, world):
        assert ids(make_client(world["owner"]).get(WORKLOADS)) == {str(world["own"].id)}

    def test_operator_lists_their_organisation_with_owner_details(self, make_client, operator, world):
        response = make_client(operator).get(WORKLOADS)
        assert ids(response) == {str(world["own"].id), str(world["colleagues"].id)}
        owners = {row["owner"]["email"] for row in response.json()["results"]}
        assert owners == {world["owner"].email, world["colleague"].email}

    def test_service_role_lists_everything(self, make_client, service_user, world):
        assert ids(make_client(service_user).get(WORKLOADS)) == {
            str(world[key].id) for key in ("own", "colleagues", "strangers")
        }

    @pytest.mark.parametrize("reader,status", [("owner", 200), ("colleague", 404), ("stranger", 404)])
    def test_detail_is_a_404_for_anyone_who_may_not_see_it(self, make_client, world, reader, status):
        assert make_client(world[reader]).get(f"{WORKLOADS}{world['own'].id}/").status_code == status

    def test_operator_of_another_organisation_gets_404(self, make_client, other_organization, world):
        outsider = OperatorFactory(organization=other_organization)
        assert make_client(outsider).get(f"{WORKLOADS}{world['own'].id}/").status_code == 404


class TestOwnerEdits:
    def test_owner_changes_a_pending_workload(self, make_client, user, zone):
        workload = WorkloadFactory(user=user)
        response = make_client(user).patch(
            f"{WORKLOADS}{workload.id}/", {"workload_name": "Renamed", "host_dc": str(zone.id), "urgency": "HIGH"}
        )
        assert response.status_code == 200, response.json()
        workload.refresh_from_db()
        assert (workload.workload_name, workload.host_dc, workload.urgency) == ("Renamed", zone, "HIGH")

    @pytest.mark.parametrize("field", sorted(set(SYSTEM_FIELDS) - {"id"}))
    def test_system_fields_cannot_be_patched(self, make_client, user, field):
        workload = WorkloadFactory(user=user)
        before = ComputeWorkload.objects.filter(pk=workload.pk).values().get()
        response = make_client(user).patch(f"{WORKLOADS}{workload.id}/", {field: "2030-01-01T00:00:00Z"})
        assert response.status_code == 400
        assert list(response.json()["fields"]) == [field]
        assert ComputeWorkload.objects.filter(pk=workload.pk).values().get() == before

    def test_moving_to_another_owner_or_status_is_refused(self, make_client, user, other_organization):
        stranger = UserFactory(organization=other_organization)
        workload = WorkloadFactory(user=user)
        response = make_client(user).patch(
            f"{WORKLOADS}{workload.id}/", {"user": str(stranger.id), "organization": str(other_organization.id)}
        )
        assert response.status_code == 400
        assert set(response.json()["fields"]) == {"user", "organization"}
        workload.refresh_from_db()
        assert (workload.user, workload.organization) == (user, user.organization)

    @pytest.mark.parametrize("status", ["SCHEDULED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"])
    def test_a_workload_past_pending_answers_409_and_stays(self, make_client, user, zone, status):
        workload = WorkloadFactory(user=user, status=status, chosen_grid_zone=zone)
        response = make_client(user).patch(f"{WORKLOADS}{workload.id}/", {"workload_name": "Too late"})
        assert response.status_code == 409
        assert response.json()["code"] == "not_editable"
        workload.refresh_from_db()
        assert workload.workload_name != "Too late"

    def test_colleague_cannot_change_it(self, make_client, user):
        workload = WorkloadFactory(user=user)
        colleague = UserFactory(organization=user.organization)
        response = make_client(colleague).patch(f"{WORKLOADS}{workload.id}/", {"workload_name": "Mine now"})
        assert response.status_code == 404

    def test_operator_sees_but_cannot_edit_user_fields(self, make_client, operator, user):
        workload = WorkloadFactory(user=user)
        response = make_client(operator).patch(f"{WORKLOADS}{workload.id}/", {"workload_name": "Op edit"})
        assert response.status_code == 403
        workload.refresh_from_db()
        assert workload.workload_name != "Op edit"

    def test_timing_is_rechecked_on_change(self, make_client, user):
        workload = WorkloadFactory(user=user, estimated_duration_mins=120, deferral_window_mins=0)
        soon = (timezone.now() + timedelta(minutes=20)).isoformat()
        response = make_client(user).patch(f"{WORKLOADS}{workload.id}/", {"deadline": soon})
        assert response.status_code == 400
        assert "deadline" in response.json()["fields"]

    def test_no_put_or_delete(self, make_client, user):
        workload = WorkloadFactory(user=user)
        client = make_client(user)
        assert client.put(f"{WORKLOADS}{workload.id}/", {}).status_code == 405
        assert client.delete(f"{WORKLOADS}{workload.id}/").status_code == 405
        assert ComputeWorkload.objects.filter(pk=workload.pk).exists()


class TestListing:
    @pytest.fixture
    def mix(self, user, zone):
        now = timezone.now()
        return {
            "pending": WorkloadFactory(user=user, workload_name="alpha pending", urgency="LOW"),
            "scheduled": WorkloadFactory(
                user=user,
                status="SCHEDULED",
                chosen_grid_zone=zone,
                urgency="CRITICAL",
                deadline=now + timedelta(hours=6),
            ),
            "running": WorkloadFactory(
                user=user, status="RUNNING", chosen_grid_zone=zone, urgency="HIGH", host_dc=zone
            ),
            "done": WorkloadFactory(user=user, status="COMPLETED", chosen_grid_zone=zone, job_id="JOB-FIND-ME"),
        }

    def test_several_statuses_at_once(self, make_client, user, mix):
        response = make_client(user).get(f"{WORKLOADS}?status=PENDING,SCHEDULED")
        assert ids(response) == {str(mix["pending"].id), str(mix["scheduled"].id)}

    def test_unknown_status_is_a_400(self, make_client, user, mix):
        response = make_client(user).get(f"{WORKLOADS}?status=PENDING,ASLEEP")
        assert response.status_code == 400
        assert "status" in response.json()["fields"]

    def test_filters(self, make_client, user, zone, mix):
        client = make_client(user)
        assert ids(client.get(f"{WORKLOADS}?urgency=HIGH,CRITICAL")) == {
            str(mix["running"].id),
            str(mix["scheduled"].id),
        }
        assert str(mix["running"].id) in ids(client.get(f"{WORKLOADS}?host_dc={zone.id}"))
        assert len(ids(client.get(f"{WORKLOADS}?chosen_grid_zone={zone.id}"))) == 3
        soon = (timezone.now() + timedelta(hours=12)).isoformat().replace("+", "%2B")
        assert ids(client.get(f"{WORKLOADS}?deadline_before={soon}")) == {str(mix["scheduled"].id)}
        assert client.get(f"{WORKLOADS}?submitted_after=yesterday").status_code == 400
        assert client.get(f"{WORKLOADS}?host_dc=nope").status_code == 400

    def test_search_by_name_or_job_id(self, make_client, user, mix):
        client = make_client(user)
        assert ids(client.get(f"{WORKLOADS}?search=alpha")) == {str(mix["pending"].id)}
        assert ids(client.get(f"{WORKLOADS}?search=FIND-ME")) == {str(mix["done"].id)}

    def test_ordering_by_urgency_is_by_rank_not_alphabet(self, make_client, user, mix):
        rows = make_client(user).get(f"{WORKLOADS}?ordering=-urgency").json()["results"]
        assert [row["urgency"] for row in rows][:3] == ["CRITICAL", "HIGH", "MEDIUM"]
        assert make_client(user).get(f"{WORKLOADS}?ordering=password").status_code == 400

    def test_pagination_has_a_count_and_a_bound(self, make_client, user):
        WorkloadFactory.create_batch(105, user=user)
        client = make_client(user)
        body = client.get(f"{WORKLOADS}?page_size=100").json()
        assert body["count"] == 105
        assert len(body["results"]) == 100
        too_many = client.get(f"{WORKLOADS}?page_size=1000")
        assert too_many.status_code == 400 and list(too_many.json()["fields"]) == ["page_size"]

    @pytest.mark.parametrize("rows", [10, 100])
    def test_query_count_is_fixed(self, make_client, operator, django_assert_num_queries, rows):
        owner = UserFactory(organization=operator.organization)
        zone = GridZoneFactory()
        WorkloadFactory.create_batch(rows // 2, user=owner, host_dc=zone)
        WorkloadFactory.create_batch(
            rows - rows // 2, user=owner, status="SCHEDULED", chosen_grid_zone=zone, recommended_grid_zone=zone
        )
        client = make_client(operator)
        with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 3):  # count, page with its owners, its zones
            response = client.get(f"{WORKLOADS}?page_size=100")
        assert len(response.json()["results"]) == min(rows, 100)

    def test_events_are_the_timeline(self, make_client, user):
        workload = WorkloadFactory(user=user)
        WorkloadEvent.objects.create(workload=workload, action="submit", from_status=None, to_status="PENDING")
        body = make_client(user).get(f"{WORKLOADS}{workload.id}/events/").json()
        assert [(e["action"], e["to_status"]) for e in body["results"]] == [("submit", "PENDING")]


@pytest.mark.parametrize("rows", [10, 100])
def test_a_users_list_query_count_is_fixed(make_client, user, django_assert_num_queries, rows):
    zone = GridZoneFactory()
    WorkloadFactory.create_batch(rows, user=user, host_dc=zone, chosen_grid_zone=zone, status="SCHEDULED")
    client = make_client(user)
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 3):  # count, page with its owners, its zones
        response = client.get(f"{WORKLOADS}?page_size=100")
    assert len(response.json()["results"]) == min(rows, 100)


@pytest.mark.parametrize("rows", [10, 100])
def test_the_timeline_query_count_is_fixed(make_client, user, operator, django_assert_num_queries, rows):
    workload = WorkloadFactory(user=user)
    WorkloadEvent.objects.bulk_create(
        WorkloadEvent(
            workload=workload, action="reassign", from_status="SCHEDULED", to_status="SCHEDULED", actor=operator
        )
        for _ in range(rows)
    )
    client = make_client(user)
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 3):  # the workload, count, page with actors
        response = client.get(f"{WORKLOADS}{workload.id}/events/?page_size=100")
    assert response.json()["count"] == rows


def test_a_default_duration_follows_the_gpu_minutes_but_a_chosen_one_stays(make_client, user):
    zone = GridZoneFactory()
    client = make_client(user)
    defaulted = client.post(WORKLOADS, {"workload_name": "a", "host_dc": str(zone.id), "required_gpu_mins": "90"})
    chosen = client.post(
        WORKLOADS,
        {"workload_name": "b", "host_dc": str(zone.id), "required_gpu_mins": "90", "estimated_duration_mins": 45},
    )
    for response in (defaulted, chosen):
        client.patch(f"{WORKLOADS}{response.json()['id']}/", {"required_gpu_mins": "240"})
    assert ComputeWorkload.objects.get(pk=defaulted.json()["id"]).estimated_duration_mins == 240
    assert ComputeWorkload.objects.get(pk=chosen.json()["id"]).estimated_duration_mins == 45
