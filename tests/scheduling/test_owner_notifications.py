"""What scheduling tells a workload's owner: a notification on each event of their workload."""

from decimal import Decimal

import pytest

from notifications.models import Notification
from tests.scheduling.factories import WorkloadFactory
from workloads import services as workload_services
from workloads.models import WorkloadStatus
from workloads.state_machine import WorkloadAction

pytestmark = pytest.mark.django_db


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


def test_a_failing_notification_does_not_break_the_transition(user, operator, monkeypatch):
    """The notification is written in a savepoint: if it fails, the workload still moves and the
    request's transaction stays usable (on PostgreSQL an unguarded failure would abort it)."""
    from scheduling import owner_notifications
    from tests.zones.factories import GridZoneFactory
    from workloads.models import ComputeWorkload

    def broken(**kwargs):
        Notification.objects.create(recipient_id=None, kind="ASSIGNED", title="x", body="x")  # NOT NULL fails

    monkeypatch.setattr(owner_notifications, "notification_for_transition", broken)
    workload = WorkloadFactory(user=user)
    workload_services.workload_assign(workload=workload, actor=operator, zone=GridZoneFactory())
    assert ComputeWorkload.objects.get(pk=workload.pk).status == WorkloadStatus.SCHEDULED
    assert not Notification.objects.exists()


def test_the_transition_signal_names_the_actor_so_nothing_queries_the_event_log(grid_zones, user, operator):
    """The actor comes with ``workload_transitioned``: telling the owner costs one read (the
    workload with its zones and owner) and one insert, and never reads ``WorkloadEvent``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from scheduling import owner_notifications
    from workloads import signals

    sent = []

    def capture(sender, **kwargs):
        sent.append(kwargs)

    signals.workload_transitioned.connect(capture, dispatch_uid="test.capture")
    try:
        workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
        workload_services.workload_assign(workload=workload, actor=operator, zone=grid_zones["clean"])
    finally:
        signals.workload_transitioned.disconnect(dispatch_uid="test.capture")
    assert sent[0]["actor_id"] == operator.pk

    Notification.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        owner_notifications.notification_for_transition(
            workload_id=workload.pk, action=WorkloadAction.ASSIGN, to_status=WorkloadStatus.SCHEDULED, actor_id=None
        )
    # The workload read, the insert, and its `notification.created` in the event log (after the
    # log's order lock on PostgreSQL).
    assert len(queries) == (4 if connection.vendor == "postgresql" else 3)
    assert not any("workloadevent" in q["sql"].lower() for q in queries.captured_queries)
    assert "by your organisation's scheduling policy" in Notification.objects.get(recipient=user).body
