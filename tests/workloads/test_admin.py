"""Operators in the Django admin: their organisation only, system fields read-only, actions via services."""

import pytest
from django.test import Client

from accounts.services import operator_grant_admin_access
from tests.accounts.factories import OperatorFactory, ServiceUserFactory, UserFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads.models import WorkloadEvent, WorkloadStatus

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/workloads/computeworkload/"


@pytest.fixture
def staff_operator(organization):
    return operator_grant_admin_access(user=OperatorFactory(organization=organization))


@pytest.fixture
def admin_client(staff_operator):
    client = Client()
    client.force_login(staff_operator)
    return client


def test_staff_operator_sees_only_their_organisation(admin_client, staff_operator, other_organization):
    own = WorkloadFactory(user=UserFactory(organization=staff_operator.organization))
    foreign = WorkloadFactory(user=UserFactory(organization=other_organization))
    page = admin_client.get(CHANGELIST)
    assert page.status_code == 200
    assert own.job_id in page.content.decode()
    assert foreign.job_id not in page.content.decode()
    # The admin answers an object outside its queryset with a redirect to the index and a message.
    response = admin_client.get(f"{CHANGELIST}{foreign.pk}/change/")
    assert response.status_code == 302
    assert response.url == "/admin/"


def test_staff_operator_sees_only_their_organisation_users(admin_client, staff_operator, other_organization):
    colleague = UserFactory(organization=staff_operator.organization)
    stranger = UserFactory(organization=other_organization)
    response = admin_client.get("/admin/accounts/user/")
    assert response.status_code == 200
    page = response.content.decode()
    assert colleague.email in page
    assert stranger.email not in page


def test_system_fields_are_read_only(admin_client, staff_operator):
    workload = WorkloadFactory(user=UserFactory(organization=staff_operator.organization))
    response = admin_client.get(f"{CHANGELIST}{workload.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="workload_name"' in page  # the form is there, with the user's fields
    for field in ("status", "chosen_grid_zone", "carbon_emitted_kg", "cost_gbp"):
        assert f'name="{field}"' not in page


def test_assign_action_goes_through_the_state_machine(admin_client, staff_operator):
    zone = GridZoneFactory()
    owner = UserFactory(organization=staff_operator.organization)
    pending = WorkloadFactory(user=owner)
    running = WorkloadFactory(user=owner, status=WorkloadStatus.RUNNING, chosen_grid_zone=zone)
    response = admin_client.post(
        CHANGELIST,
        {"action": "assign_zone", "zone": str(zone.pk), "_selected_action": [str(pending.pk), str(running.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    pending.refresh_from_db()
    running.refresh_from_db()
    assert (pending.status, pending.chosen_grid_zone) == (WorkloadStatus.SCHEDULED, zone)
    assert running.status == WorkloadStatus.RUNNING  # an illegal move is reported, not forced
    event = WorkloadEvent.objects.get(workload=pending, action="assign")
    assert event.actor == staff_operator
    assert "Cannot assign" in response.content.decode()


def test_cancel_action(admin_client, staff_operator):
    workload = WorkloadFactory(user=UserFactory(organization=staff_operator.organization))
    admin_client.post(CHANGELIST, {"action": "cancel_workloads", "_selected_action": [str(workload.pk)]})
    workload.refresh_from_db()
    assert workload.status == WorkloadStatus.CANCELLED


def test_actions_on_another_organisation_are_impossible(admin_client, other_organization):
    foreign = WorkloadFactory(user=UserFactory(organization=other_organization))
    admin_client.post(CHANGELIST, {"action": "cancel_workloads", "_selected_action": [str(foreign.pk)]})
    foreign.refresh_from_db()
    assert foreign.status == WorkloadStatus.PENDING


def test_service_role_sees_everything(other_organization):
    client = Client()
    client.force_login(ServiceUserFactory(is_superuser=True))
    foreign = WorkloadFactory(user=UserFactory(organization=other_organization))
    assert foreign.job_id in client.get(CHANGELIST).content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/accounts/organization/",
        "/admin/zones/gridzone/",
        "/admin/workloads/workloadevent/",
        "/admin/scheduling/schedulingpolicy/",
        "/admin/scheduling/recommendation/",
        "/admin/scheduling/schedulingoutcome/",
    ],
)
def test_admin_pages_render_for_operators(admin_client, path):
    assert admin_client.get(path).status_code == 200


@pytest.mark.parametrize("path", [CHANGELIST, "/admin/accounts/user/", "/admin/accounts/organization/"])
def test_operators_do_not_learn_other_organisations_names(admin_client, other_organization, path):
    UserFactory(organization=other_organization)
    response = admin_client.get(path)
    assert response.status_code == 200
    assert other_organization.name not in response.content.decode()
