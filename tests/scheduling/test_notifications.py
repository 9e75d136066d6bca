"""Notifications: written on the owner's workload's events, and seen by their recipient only."""

import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from scheduling.models import Notification, NotificationKind
from tests.accounts.factories import UserFactory
from tests.scheduling.factories import NotificationFactory, WorkloadFactory
from workloads import services as workload_services
from workloads.models import WorkloadStatus

pytestmark = pytest.mark.django_db

LIST = "/api/v1/notifications/"


def _kinds(user):
    return list(Notification.objects.filter(recipient=user).values_list("kind", flat=True))


class TestWrittenOnTransitions:
    def test_the_whole_life_notifies_the_owner(self, grid_zones, user, operator):
        workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
        workload = workload_services.workload_assign(workload=workload, actor=operator, zone=grid_zones["clean"])
        workload = workload_services.workload_assign(
            workload=workload, actor=operator, zone=grid_zones["mid"], reassign=True
        )
        workload = workload_services.workload_start(workload=workload, actor=operator)
        workload_services.workload_complete(workload=workload, actor=operator, measured_energy_kwh=Decimal("10"))

        assert sorted(_kinds(user)) == ["ASSIGNED", "ASSIGNED", "COMPLETED", "STARTED"]
        assert not Notification.objects.exclude(recipient=user).exists()
        titles = {n.title: n for n in Notification.objects.filter(recipient=user)}
        assert "Clean" in titles[f"{workload.job_id} is scheduled"].body
        assert "Mid" in titles[f"{workload.job_id} is moved"].body
        assert "kg CO2" in titles[f"{workload.job_id} completed"].body
        assert all(n.workload_id == workload.pk and n.read_at is None for n in titles.values())

    def test_a_failure_notifies_the_owner(self, grid_zones, user, operator):
        workload = WorkloadFactory(
            user=user, host_dc=grid_zones["dirty"], status=WorkloadStatus.SCHEDULED, chosen_grid_zone=grid_zones["mid"]
        )
        workload_services.workload_fail(workload=workload, actor=operator, note="GPU fell over")
        assert _kinds(user) == ["FAILED"]

    def test_cancelling_ones_own_workload_notifies_nobody(self, grid_zones, user):
        workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
        workload_services.workload_cancel(workload=workload, actor=user)
        assert not Notification.objects.exists()

    def test_an_operator_cancelling_notifies_the_owner(self, grid_zones, user, operator):
        workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
        workload_services.workload_cancel(workload=workload, actor=operator)
        assert _kinds(user) == ["CANCELLED"]

    def test_a_refused_transition_notifies_nobody(self, grid_zones, user, operator):
        workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
        with pytest.raises(Exception):  # noqa: B017 - the state machine's 409
            workload_services.workload_start(workload=workload, actor=operator)
        assert not Notification.objects.exists()


@pytest.fixture
def inboxes(user, organization):
    neighbour = UserFactory(organization=organization)
    mine = [NotificationFactory(recipient=user) for _ in range(3)]
    NotificationFactory(recipient=user, read_at=timezone.now())
    theirs = NotificationFactory(recipient=neighbour)
    return {"mine": mine, "theirs": theirs, "neighbour": neighbour}


def test_each_user_lists_only_their_own(inboxes, user, make_client):
    body = make_client(user).get(LIST).json()
    assert body["count"] == 4
    assert str(inboxes["theirs"].pk) not in {row["id"] for row in body["results"]}
    assert make_client(inboxes["neighbour"]).get(LIST).json()["count"] == 1


@pytest.mark.parametrize("role", ["operator", "service_user"])
def test_operators_and_the_service_role_do_not_see_others_notifications(inboxes, make_client, role, request):
    caller = request.getfixturevalue(role)
    assert make_client(caller).get(LIST).json()["count"] == 0
    response = make_client(caller).post(f"{LIST}{inboxes['mine'][0].pk}/read/")
    assert response.status_code == 404


def test_unread_filter(inboxes, user, make_client):
    client = make_client(user)
    assert client.get(LIST, {"unread": "true"}).json()["count"] == 3
    assert client.get(LIST, {"unread": "false"}).json()["count"] == 1
    assert client.get(LIST, {"unread": "maybe"}).status_code == 400


def test_mark_one_read(inboxes, user, make_client):
    target = inboxes["mine"][0]
    response = make_client(user).post(f"{LIST}{target.pk}/read/")
    assert response.status_code == 200
    assert response.json()["is_read"] is True
    target.refresh_from_db()
    first = target.read_at
    assert first is not None
    make_client(user).post(f"{LIST}{target.pk}/read/")  # again: unchanged
    target.refresh_from_db()
    assert target.read_at == first


def test_another_users_notification_is_404_and_stays_unread(inboxes, user, make_client):
    theirs = inboxes["theirs"]
    assert make_client(user).post(f"{LIST}{theirs.pk}/read/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert make_client(user).post(f"{LIST}{uuid.uuid4()}/read/").status_code == 404


def test_read_all_marks_only_the_callers(inboxes, user, make_client):
    response = make_client(user).post(f"{LIST}read-all/")
    assert response.status_code == 200 and response.json() == {"marked": 3}
    assert not Notification.objects.filter(recipient=user, read_at__isnull=True).exists()
    inboxes["theirs"].refresh_from_db()
    assert inboxes["theirs"].read_at is None


def test_list_query_count_is_fixed(user, make_client, django_assert_num_queries):
    from conftest import REQUEST_OVERHEAD_QUERIES

    client = make_client(user)
    for n in (3, 30):
        NotificationFactory.create_batch(n - Notification.objects.filter(recipient=user).count(), recipient=user)
        with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 2):  # count and page
            assert client.get(LIST).json()["count"] == n


def test_kinds_cover_the_brief():
    assert set(NotificationKind.values) == {"ASSIGNED", "STARTED", "COMPLETED", "FAILED", "UNSCHEDULABLE", "CANCELLED"}


def test_a_failing_notification_does_not_break_the_transition(user, operator, monkeypatch):
    """The notification is written in a savepoint: if it fails, the workload still moves and the
    request's transaction stays usable (on PostgreSQL an unguarded failure would abort it)."""
    from scheduling import services as scheduling_services
    from tests.zones.factories import GridZoneFactory
    from workloads.models import ComputeWorkload

    def broken(**kwargs):
        Notification.objects.create(recipient_id=None, kind="ASSIGNED", title="x", body="x")  # NOT NULL fails

    monkeypatch.setattr(scheduling_services, "notification_for_transition", broken)
    workload = WorkloadFactory(user=user)
    workload_services.workload_assign(workload=workload, actor=operator, zone=GridZoneFactory())
    assert ComputeWorkload.objects.get(pk=workload.pk).status == WorkloadStatus.SCHEDULED
    assert not Notification.objects.exists()
