"""The operator dashboard: per-member figures and the queue, on top of the shared stats."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from conftest import REQUEST_OVERHEAD_QUERIES, client_for
from tests.accounts.factories import OperatorFactory, UserFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads.models import WorkloadStatus as S

pytestmark = pytest.mark.django_db

STATS = "/api/v1/workloads/stats/"


def completed(user, zone, emitted, baseline, **extra):
    return WorkloadFactory(
        user=user,
        status=S.COMPLETED,
        chosen_grid_zone=zone,
        actual_end=timezone.now(),
        carbon_emitted_kg=Decimal(emitted),
        baseline_carbon_kg=Decimal(baseline),
        **extra,
    )


def test_operator_gets_members_and_queue_of_their_organisation_only(operator):
    zone = GridZoneFactory()
    ada = UserFactory(organization=operator.organization, user_name="Ada")
    bob = UserFactory(organization=operator.organization, user_name="Bob")
    idle = UserFactory(organization=operator.organization, user_name="Cy")
    completed(ada, zone, "1.5", "4")
    completed(ada, zone, "2", "1")
    WorkloadFactory(user=ada, status=S.FAILED)
    oldest = WorkloadFactory(user=bob)
    WorkloadFactory(user=bob)
    now = timezone.now()
    type(oldest).objects.filter(pk=oldest.pk).update(submitted_at=now - timedelta(minutes=95))
    stranger = UserFactory()  # another organisation: never counted, never listed
    completed(stranger, zone, "100", "500")
    WorkloadFactory(user=stranger)
    type(oldest).objects.filter(user=stranger).update(submitted_at=now - timedelta(days=3))

    body = client_for(operator).get(STATS).json()

    members = {row["user"]["user_name"]: row for row in body["members"]}
    assert set(members) == {"Ada", "Bob", "Cy", operator.user_name}
    assert members["Ada"]["workloads"] == 3
    assert Decimal(str(members["Ada"]["carbon_emitted_kg"])) == Decimal("3.5")
    assert Decimal(str(members["Ada"]["carbon_saved_kg"])) == Decimal("1.5")  # (4 − 1.5) + (1 − 2)
    assert members["Bob"]["workloads"] == 2
    assert members["Cy"] == {
        "user": {"id": str(idle.id), "user_name": "Cy", "email": idle.email},
        "workloads": 0,
        "carbon_emitted_kg": 0,
        "carbon_saved_kg": 0,
    }
    assert body["queue"]["length"] == 2
    assert 95 <= body["queue"]["oldest_wait_minutes"] <= 96


def test_users_get_no_member_figures(user):
    WorkloadFactory(user=user)
    body = client_for(user).get(STATS).json()
    assert body["members"] is None and body["queue"] is None


def test_empty_queue_has_no_oldest_wait(operator):
    body = client_for(operator).get(STATS).json()
    assert body["queue"] == {"length": 0, "oldest_submitted_at": None, "oldest_wait_minutes": None}


@pytest.mark.parametrize("members", [2, 12])
def test_operator_stats_query_count_is_fixed(operator, django_assert_num_queries, members):
    zone = GridZoneFactory()
    for _ in range(members):
        owner = UserFactory(organization=operator.organization)
        completed(owner, zone, "1", "2")
        WorkloadFactory(user=owner)
    OperatorFactory()  # another organisation's operator
    client = client_for(operator)
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 5):  # counts, sums, recent, members, member figures
        body = client.get(STATS).json()
    assert len(body["members"]) == members + 1
