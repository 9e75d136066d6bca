"""The half hours flagged as held over capacity, in the admin: read-only; an operator sees those
holding their organisation's work and only its job ids, never another organisation's."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.services import OPERATORS_GROUP
from tests.accounts.factories import PASSWORD, UserFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads.models import CapacityHold, CapacityOverbooking, WorkloadStatus
from zones.providers.base import HALF_HOUR, floor_half_hour

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/workloads/capacityoverbooking/"


def _flag(zone, slot, *owners):
    """A flagged half hour of ``zone`` holding a workload scheduled there of each of ``owners``
    (the factory writes its hold)."""
    jobs = [
        WorkloadFactory(
            user=owner,
            status=WorkloadStatus.SCHEDULED,
            chosen_grid_zone=zone,
            planned_start=slot,
            estimated_duration_mins=30,
        ).job_id
        for owner in owners
    ]
    assert CapacityHold.objects.filter(zone=zone, slot_start=slot).count() == len(owners)
    return CapacityOverbooking.objects.create(zone=zone, slot_start=slot), jobs


@pytest.fixture
def slot():
    return floor_half_hour(timezone.now()) + HALF_HOUR


@pytest.fixture
def flagged(slot, user, organization, other_organization):
    """Lowland holds work of both organisations; Highland only the other's."""
    stranger = UserFactory(organization=other_organization)
    shared, (mine, theirs) = _flag(GridZoneFactory(zone_name="Lowland"), slot, user, stranger)
    foreign, (elsewhere,) = _flag(GridZoneFactory(zone_name="Highland"), slot, stranger)
    return {"shared": shared, "foreign": foreign, "mine": mine, "theirs": theirs, "elsewhere": elsewhere}


@pytest.fixture
def root_console(db):
    client = Client()
    client.force_login(User.objects.create_superuser("root@example.com", PASSWORD))
    return client


def test_an_operator_sees_the_half_hours_holding_their_work_and_only_their_job_ids(operator_console, flagged):
    page = operator_console.get(CHANGELIST).content.decode()
    assert "Lowland" in page and flagged["mine"] in page
    assert flagged["theirs"] not in page  # held in the same half hour, by another organisation
    assert "Highland" not in page and flagged["elsewhere"] not in page
    assert "?organization=" not in page  # no filter naming other organisations


def test_another_organisations_half_hour_is_unreachable_for_an_operator(operator_console, flagged):
    response = operator_console.get(f"{CHANGELIST}{flagged['foreign'].pk}/change/")
    assert response.status_code == 302 and response.url == "/admin/"
    mine = operator_console.get(f"{CHANGELIST}{flagged['shared'].pk}/change/")
    assert mine.status_code == 200 and flagged["mine"] in mine.content.decode()
    assert flagged["theirs"] not in mine.content.decode()


def test_the_service_role_sees_every_half_hour_and_filters_by_organisation_zone_and_window(
    root_console, flagged, other_organization, organization
):
    page = root_console.get(CHANGELIST).content.decode()
    for shown in ("Lowland", "Highland", flagged["mine"], flagged["theirs"], flagged["elsewhere"]):
        assert shown in page
    ours = root_console.get(CHANGELIST, {"organization": str(organization.pk)}).content.decode()
    assert "1 capacity overbooking" in ours and flagged["mine"] in ours and flagged["elsewhere"] not in ours
    highland = root_console.get(CHANGELIST, {"zone__id__exact": str(flagged["foreign"].zone_id)}).content.decode()
    assert "1 capacity overbooking" in highland and flagged["elsewhere"] in highland and flagged["mine"] not in highland
    assert "0 capacity overbookings" in root_console.get(CHANGELIST, {"window": "passed"}).content.decode()
    assert "2 capacity overbookings" in root_console.get(CHANGELIST, {"window": "next_24h"}).content.decode()


def test_search_finds_a_half_hour_by_the_job_id_of_work_held_there(root_console, operator_console, flagged):
    found = root_console.get(CHANGELIST, {"q": flagged["elsewhere"]}).content.decode()
    assert "1 capacity overbooking" in found and flagged["elsewhere"] in found and flagged["mine"] not in found
    # an operator cannot find a half hour by another organisation's job id
    assert "0 capacity overbookings" in operator_console.get(CHANGELIST, {"q": flagged["theirs"]}).content.decode()


def test_it_is_read_only(root_console, flagged):
    assert root_console.get(f"{CHANGELIST}add/").status_code == 403
    assert 'name="_save"' not in root_console.get(f"{CHANGELIST}{flagged['shared'].pk}/change/").content.decode()
    assert root_console.post(f"{CHANGELIST}{flagged['shared'].pk}/delete/", {"post": "yes"}).status_code == 403


def test_the_lists_query_count_does_not_grow_with_its_rows(root_console, flagged, slot, user):
    with CaptureQueriesContext(connection) as few:
        root_console.get(CHANGELIST)
    for hours in range(1, 6):
        _flag(GridZoneFactory(), slot + timedelta(hours=hours), user, user)
    with CaptureQueriesContext(connection) as many:
        page = root_console.get(CHANGELIST).content.decode()
    assert "7 capacity overbookings" in page
    assert len(many) == len(few)


def test_an_existing_operators_group_gains_the_page_at_the_next_migrate(staff_operator):
    group = Group.objects.get(name=OPERATORS_GROUP)
    group.permissions.remove(Permission.objects.get(codename="view_capacityoverbooking"))
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert User.objects.get(pk=staff_operator.pk).has_perm("workloads.view_capacityoverbooking")
