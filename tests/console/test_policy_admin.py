"""The organisation's scheduling policy in the admin: always there, named by its organisation,
editable by its operators with the API's validation, never another organisation's."""

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from scheduling.models import SchedulingPolicy
from tests.accounts.factories import OrganizationFactory, ServiceUserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/scheduling/schedulingpolicy/"


@pytest.fixture
def organization(db):
    return OrganizationFactory(name="Northwind Compute")


@pytest.fixture
def northwind(organization):
    return organization


def test_an_operator_finds_their_policy_on_first_view(operator_console, northwind, other_organization):
    assert not SchedulingPolicy.objects.exists()
    response = operator_console.get(CHANGELIST)
    policy = SchedulingPolicy.objects.get(organization=northwind)
    assert (policy.preset, policy.auto_assign) == ("BALANCED", False)
    assert response.status_code == 302 and response.url == f"{CHANGELIST}{policy.pk}/change/"
    page = operator_console.get(response.url).content.decode()
    assert "Scheduling policy of Northwind Compute" in page
    assert 'name="_save"' in page and 'name="organization"' not in page
    assert not SchedulingPolicy.objects.filter(organization=other_organization).exists()


def test_an_operator_changes_the_policy_with_the_apis_validation(operator_console, staff_operator, northwind):
    operator_console.get(CHANGELIST)
    policy = SchedulingPolicy.objects.get(organization=northwind)
    url = f"{CHANGELIST}{policy.pk}/change/"
    refused = operator_console.post(
        url, {"preset": "CUSTOM", "carbon_weight": "0", "price_weight": "0", "wait_weight": "0"}
    )
    assert refused.status_code == 200 and "At least one weight must be positive." in refused.content.decode()
    mixed = operator_console.post(
        url, {"preset": "BALANCED", "carbon_weight": "5", "price_weight": "1", "wait_weight": "0.5"}
    )
    assert "choose CUSTOM to set weights" in mixed.content.decode()
    saved = operator_console.post(
        url, {"preset": "CUSTOM", "carbon_weight": "2", "price_weight": "0.5", "wait_weight": "0", "auto_assign": "on"}
    )
    assert saved.status_code == 302
    policy.refresh_from_db()
    assert (policy.preset, float(policy.carbon_weight), policy.auto_assign) == ("CUSTOM", 2.0, True)
    assert policy.updated_by == staff_operator
    assert LogEntry.objects.get().object_repr == "Scheduling policy of Northwind Compute"


def test_another_organisations_policy_is_unreachable(operator_console, other_organization):
    theirs = SchedulingPolicy.objects.create(
        organization=other_organization, preset="COST_FIRST", carbon_weight=0, price_weight=1, wait_weight=0
    )
    response = operator_console.get(f"{CHANGELIST}{theirs.pk}/change/")
    assert (response.status_code, response.url) == (302, "/admin/")
    operator_console.post(
        f"{CHANGELIST}{theirs.pk}/change/",
        {"preset": "CARBON_FIRST", "carbon_weight": "1", "price_weight": "0", "wait_weight": "0"},
    )
    theirs.refresh_from_db()
    assert theirs.preset == "COST_FIRST"


def test_the_service_role_sees_every_organisations_policy(northwind, other_organization):
    client = Client()
    client.force_login(ServiceUserFactory(is_superuser=True))
    page = client.get(CHANGELIST).content.decode()
    assert "Scheduling policy of Northwind Compute" in page
    assert f"Scheduling policy of {other_organization.name}" in page
