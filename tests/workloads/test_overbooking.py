"""Half hours the ledger holds over a zone's capacity (late starts, overruns, overrides) are flagged
to the operators of the organisations whose work is held there: once per zone and overbooked window,
and readable by operators at ``/api/v1/analytics/zones/overbooked/``."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import client_for
from notifications.models import Notification, NotificationKind
from tests.accounts.factories import OperatorFactory, OrganizationFactory, UserFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads import capacity, overbooking, services, tasks
from workloads.models import CapacityOverbooking, WorkloadStatus

S = WorkloadStatus
OVERBOOKED = "/api/v1/analytics/zones/overbooked/"


@pytest.fixture
def zone(db):
    return GridZoneFactory(zone_name="Lowland", gpu_capacity=8)


def _holding(zone, user, gpus: int, hours: int = 2, **state):
    """A workload of ``user`` in ``zone`` needing ``gpus`` GPUs for ``hours`` (``state``: its status
    and its planned or actual start)."""
    return WorkloadFactory(
        user=user,
        chosen_grid_zone=zone,
        required_gpu_mins=Decimal(gpus * 60 * hours),
        estimated_duration_mins=60 * hours,
        **state,
    )


def _running(zone, user, gpus: int, started, hours: int = 2):
    return _holding(zone, user, gpus, hours, status=S.RUNNING, actual_start=started)


def _scheduled(zone, user, gpus: int, start, hours: int = 2):
    return _holding(zone, user, gpus, hours, status=S.SCHEDULED, planned_start=start)


def _overrun_into(zone, user):
    """A run 1 hour past its estimate in ``zone``, and a scheduled one planned from now beside it
    that fitted when assigned: together over the zone's 8 GPUs in the current half hour."""
    now = timezone.now()
    overrun = _running(zone, user, gpus=6, started=capacity.floor_half_hour(now) - timedelta(hours=3))
    next_up = _scheduled(zone, user, gpus=4, start=capacity.floor_half_hour(now))
    return overrun, next_up


def _notices(user):
    return list(Notification.objects.filter(recipient=user, kind=NotificationKind.OVERBOOKED))


@pytest.mark.django_db
class TestTheRollFlagsOverbooking:
    def test_operators_of_the_affected_organisation_are_told_naming_zone_half_hours_resource_and_work(
        self, zone, user, operator
    ):
        overrun, next_up = _overrun_into(zone, user)
        member = UserFactory(organization=user.organization)

        assert tasks.capacity_holds_roll.apply().get() >= 1

        [notice] = _notices(operator)
        assert "Lowland" in notice.title
        assert "GPUs" in notice.body and "10" in notice.body and "8" in notice.body
        assert overrun.job_id in notice.body and next_up.job_id in notice.body
        assert capacity.floor_half_hour(timezone.now()).strftime("%H:%M") in notice.body
        assert _notices(member) == [] and _notices(user) == []  # operators only

    def test_rolling_again_tells_no_one_twice(self, zone, user, operator):
        _overrun_into(zone, user)
        tasks.capacity_holds_roll.apply().get()
        tasks.capacity_holds_roll.apply().get()
        overbooking.overbooking_roll(now=timezone.now() + timedelta(minutes=5))
        assert len(_notices(operator)) == 1

    def test_a_window_that_grows_with_an_overrun_is_the_same_overbooking(self, zone, user, operator):
        now = timezone.now()
        _overrun_into(zone, user)
        overbooking.overbooking_roll(now=now)
        overbooking.overbooking_roll(now=now + timedelta(minutes=30))
        assert len(_notices(operator)) == 1

    def test_once_resolved_a_new_overbooking_there_is_news_again(self, zone, user, operator):
        overrun, next_up = _overrun_into(zone, user)
        overbooking.overbooking_roll(now=timezone.now())
        services.workload_cancel(workload=next_up, actor=operator)
        overbooking.overbooking_roll(now=timezone.now())
        assert not CapacityOverbooking.objects.exists()
        third = WorkloadFactory(user=user, required_gpu_mins=Decimal(4 * 120), estimated_duration_mins=120)
        services.workload_assign(workload=third, actor=operator, zone=zone, override_capacity=True, note="burst")
        overbooking.overbooking_roll(now=timezone.now())
        assert len(_notices(operator)) == 2

    def test_each_organisation_hears_of_its_own_work_only(self, zone, user, operator):
        other_org = OrganizationFactory()
        other_operator = OperatorFactory(organization=other_org)
        now = timezone.now()
        mine = _running(zone, user, gpus=6, started=capacity.floor_half_hour(now) - timedelta(hours=3))
        theirs = _scheduled(zone, UserFactory(organization=other_org), gpus=4, start=capacity.floor_half_hour(now))
        bystander = OperatorFactory()  # an organisation with nothing in the zone

        overbooking.overbooking_roll(now=now)

        [my_notice], [their_notice] = _notices(operator), _notices(other_operator)
        assert mine.job_id in my_notice.body and theirs.job_id not in my_notice.body
        assert theirs.job_id in their_notice.body and mine.job_id not in their_notice.body
        assert _notices(bystander) == []

    def test_an_api_keys_principal_is_no_one_to_tell(self, zone, user, operator):
        from apikeys import services as apikey_services
        from apikeys.models import ApiKeyScope

        apikey_services.api_key_create(
            organization=user.organization, created_by=operator, name="ci", scopes=[ApiKeyScope.WORKLOADS_READ]
        )
        _overrun_into(zone, user)
        overbooking.overbooking_roll(now=timezone.now())
        told = Notification.objects.filter(kind=NotificationKind.OVERBOOKED)
        assert list(told.values_list("recipient_id", flat=True)) == [operator.pk]

    def test_an_operators_override_is_flagged_at_once(self, zone, user, operator):
        _scheduled(zone, user, gpus=6, start=timezone.now())
        workload = WorkloadFactory(user=user, required_gpu_mins=Decimal(4 * 120), estimated_duration_mins=120)
        services.workload_assign(workload=workload, actor=operator, zone=zone, override_capacity=True, note="burst")
        [notice] = _notices(operator)
        assert workload.job_id in notice.body

    def test_an_operators_start_over_capacity_is_flagged_at_once(self, zone, user, operator):
        _scheduled(zone, user, gpus=6, start=timezone.now())
        early = _scheduled(zone, user, gpus=4, start=timezone.now() + timedelta(hours=3))
        services.workload_start(workload=early, actor=operator, override_capacity=True, note="urgent fix")
        [notice] = _notices(operator)
        assert early.job_id in notice.body

    def test_a_late_start_moving_its_window_is_the_same_overbooking(self, zone, user, operator):
        now = timezone.now()
        _scheduled(zone, user, gpus=6, start=capacity.floor_half_hour(now) - timedelta(hours=1))
        _scheduled(zone, user, gpus=4, start=capacity.floor_half_hour(now), hours=4)
        for minutes in (0, 30, 60):
            overbooking.overbooking_roll(now=now + timedelta(minutes=minutes))
        assert len(_notices(operator)) == 1

    def test_nothing_over_capacity_tells_nobody(self, zone, user, operator):
        _scheduled(zone, user, gpus=8, start=timezone.now())
        assert tasks.capacity_holds_roll.apply().get() == 0
        assert _notices(operator) == [] and not CapacityOverbooking.objects.exists()


@pytest.mark.django_db
class TestOperatorsReadOverbookedHalfHours:
    def test_each_half_hour_over_capacity_with_the_callers_work_held_there(self, zone, user, operator):
        overrun, next_up = _overrun_into(zone, user)
        other_org = OrganizationFactory()
        theirs = _scheduled(zone, UserFactory(organization=other_org), gpus=1, start=timezone.now())
        overbooking.overbooking_roll(now=timezone.now())

        response = client_for(operator).get(OVERBOOKED)

        assert response.status_code == 200, response.content
        rows = response.json()["results"]
        assert rows and {row["zone"]["id"] for row in rows} == {str(zone.pk)}
        first = rows[0]
        assert first["resource"] == "gpus" and first["capacity"] == 8 and first["held"] == 11
        assert first["short"] == 3
        assert first["slot_start"].startswith(capacity.floor_half_hour(timezone.now()).strftime("%Y-%m-%dT%H:%M"))
        assert set(first["workloads"]) == {overrun.job_id, next_up.job_id}  # not the other organisation's
        assert theirs.job_id not in first["workloads"]

    def test_it_is_for_operators(self, user):
        assert client_for(user).get(OVERBOOKED).status_code == 403

    def test_query_count_is_fixed(self, zone, user, operator):
        _overrun_into(zone, user)
        overbooking.overbooking_roll(now=timezone.now())
        client = client_for(operator)
        assert len(client.get(OVERBOOKED).json()["results"]) == 1
        with CaptureQueriesContext(connection) as one:
            client.get(OVERBOOKED)
        _overrun_into(GridZoneFactory(zone_name="Upland", gpu_capacity=8), user)
        overbooking.overbooking_roll(now=timezone.now())
        with CaptureQueriesContext(connection) as two:
            assert len(client.get(OVERBOOKED).json()["results"]) == 2
        assert len(two) == len(one)


@pytest.mark.django_db
def test_the_rolls_query_count_does_not_grow_with_new_windows(user, operator):
    """The roll runs with every zone locked: flagging one new window or several (zones and
    organisations) costs the same number of queries."""

    def flagged_windows(count: int):
        for _ in range(count):
            zone = GridZoneFactory(gpu_capacity=8)
            member = UserFactory(organization=OperatorFactory().organization)
            _overrun_into(zone, user)
            _scheduled(zone, member, gpus=1, start=capacity.floor_half_hour(timezone.now()))
        with CaptureQueriesContext(connection) as queries:
            overbooking.overbooking_roll(now=timezone.now())
        return len(queries)

    one = flagged_windows(1)
    CapacityOverbooking.objects.all().delete()  # each roll below flags its windows as new
    Notification.objects.all().delete()
    three = flagged_windows(3)
    assert CapacityOverbooking.objects.values("zone").distinct().count() == 4
    assert Notification.objects.filter(kind=NotificationKind.OVERBOOKED).count() > 3
    assert three == one
