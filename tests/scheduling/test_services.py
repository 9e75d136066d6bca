"""recommendations_compute and the other services, on the real forecast path (readings in the DB)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.models import Notification, NotificationKind
from pylon.core.exceptions import ApplicationError
from scheduling import engine, recompute, services
from scheduling.models import (
    InfeasibleConstraint,
    Recommendation,
    SchedulingOutcome,
    SchedulingPolicy,
)
from tests.accounts.factories import OperatorFactory, UserFactory
from tests.scheduling.factories import GridZoneFactory, PolicyFactory, WorkloadFactory
from workloads import services as workload_services
from workloads.models import ComputeWorkload, Urgency, WorkloadEvent, WorkloadStatus

pytestmark = pytest.mark.django_db


def _rows(workload):
    return [
        (r.rank, r.zone_id, r.start, round(r.expected_emissions_kg, 9), r.score)
        for r in Recommendation.objects.filter(workload=workload).order_by("rank")
    ]


def _pending(user, zone, **kwargs):
    kwargs.setdefault("deferral_window_mins", 0)
    return WorkloadFactory(user=user, host_dc=zone, **kwargs)


def test_constraints_match_the_engine():
    assert set(InfeasibleConstraint.values) == {c.value for c in engine.Constraint}


def test_compute_stores_ranked_options_and_points_the_workload_at_them(grid_zones, user):
    PolicyFactory(organization=user.organization)  # CARBON_FIRST
    workload = _pending(user, grid_zones["dirty"])

    report = recompute.recommendations_compute(workload_ids=[workload.pk])

    assert report.computed == 1
    recs = list(Recommendation.objects.filter(workload=workload).order_by("rank"))
    assert [r.zone for r in recs] == [grid_zones["clean"], grid_zones["mid"], grid_zones["dirty"]]
    best = recs[0]
    assert best.start == timezone.now()
    assert best.end == best.start + timedelta(minutes=120)
    assert best.expected_emissions_kg == pytest.approx(50 * 50 / 1000)  # 50 kWh × 50 g/kWh
    assert best.carbon_saving_kg == pytest.approx(50 * (300 - 50) / 1000)
    assert best.forecast_fetched_at == timezone.now()
    assert {r.run_id for r in recs} == {report.run_id}
    workload.refresh_from_db()
    assert (workload.recommended_grid_zone, workload.recommended_2_grid_zone, workload.recommended_3_grid_zone) == (
        grid_zones["clean"],
        grid_zones["mid"],
        grid_zones["dirty"],
    )
    outcome = SchedulingOutcome.objects.get(workload=workload)
    assert outcome.feasible and outcome.policy_preset == "CARBON_FIRST"
    assert outcome.baseline_emissions_kg == pytest.approx(15.0)


def test_computing_twice_writes_the_same_rows_and_does_not_touch_updated_at(grid_zones, user):
    workload = _pending(user, grid_zones["dirty"])
    updated_at = ComputeWorkload.objects.get(pk=workload.pk).updated_at

    recompute.recommendations_compute(workload_ids=[workload.pk])
    first = _rows(workload)
    recompute.recommendations_compute(workload_ids=[workload.pk])

    assert _rows(workload) == first
    assert Recommendation.objects.filter(workload=workload).count() == 3
    assert SchedulingOutcome.objects.filter(workload=workload).count() == 1
    assert ComputeWorkload.objects.get(pk=workload.pk).updated_at == updated_at


@pytest.mark.parametrize("status", [WorkloadStatus.SCHEDULED, WorkloadStatus.CANCELLED, WorkloadStatus.COMPLETED])
def test_only_pending_workloads_are_computed(grid_zones, user, status):
    workload = _pending(user, grid_zones["dirty"], status=status, chosen_grid_zone=grid_zones["mid"])

    report = recompute.recommendations_compute(workload_ids=[workload.pk])

    assert (report.computed, report.skipped) == (0, 1)
    assert not Recommendation.objects.exists()
    assert not SchedulingOutcome.objects.exists()


def test_a_workload_changed_while_computing_is_skipped_not_clobbered(grid_zones, user, monkeypatch):
    stays = _pending(user, grid_zones["dirty"])
    changes = _pending(user, grid_zones["dirty"])
    real = engine.schedule_batch

    def slow_batch(*args, **kwargs):
        result = real(*args, **kwargs)
        # Meanwhile the owner edits one workload and an operator assigns the other... well, edits:
        ComputeWorkload.objects.filter(pk=changes.pk).update(updated_at=timezone.now() + timedelta(seconds=1))
        return result

    monkeypatch.setattr(engine, "schedule_batch", slow_batch)
    report = recompute.recommendations_compute(workload_ids=[stays.pk, changes.pk])

    assert (report.computed, report.skipped) == (1, 1)
    assert Recommendation.objects.filter(workload=stays).count() == 3
    assert not Recommendation.objects.filter(workload=changes).exists()
    assert not SchedulingOutcome.objects.filter(workload=changes).exists()


def test_a_workload_assigned_while_computing_is_skipped(grid_zones, user, operator, monkeypatch):
    workload = _pending(user, grid_zones["dirty"])
    real = engine.schedule_batch

    def batch_then_assign(*args, **kwargs):
        result = real(*args, **kwargs)
        workload_services.workload_assign(workload=workload, actor=operator, zone=grid_zones["mid"])
        return result

    monkeypatch.setattr(engine, "schedule_batch", batch_then_assign)
    recompute.recommendations_compute(workload_ids=[workload.pk])

    workload.refresh_from_db()
    assert workload.status == WorkloadStatus.SCHEDULED
    assert workload.recommended_grid_zone is None
    assert not Recommendation.objects.exists()


@pytest.mark.parametrize(
    "preset,best",
    [("CARBON_FIRST", "clean"), ("COST_FIRST", "dirty"), ("BALANCED", "mid")],
)
def test_the_organisations_policy_weights_are_applied(grid_zones, user, preset, best):
    from scheduling.models import PRESET_WEIGHTS

    carbon, price, wait = PRESET_WEIGHTS[preset]
    PolicyFactory(
        organization=user.organization, preset=preset, carbon_weight=carbon, price_weight=price, wait_weight=wait
    )
    # Mid: 150 g at £0.12 beats clean (50 g, £0.40) and dirty (300 g, £0.10) when both count.
    grid_zones["mid"].energy_price = Decimal("0.12")
    grid_zones["mid"].save()
    workload = _pending(user, grid_zones["dirty"])

    recompute.recommendations_compute(workload_ids=[workload.pk])

    assert Recommendation.objects.get(workload=workload, rank=1).zone == grid_zones[best]
    assert SchedulingOutcome.objects.get(workload=workload).policy_preset == preset


def test_an_organisation_without_a_policy_gets_balanced_without_writing_one(grid_zones, user):
    workload = _pending(user, grid_zones["dirty"])
    recompute.recommendations_compute(workload_ids=[workload.pk])
    assert SchedulingOutcome.objects.get(workload=workload).policy_preset == "BALANCED"
    assert not SchedulingPolicy.objects.exists()


def test_auto_assign_assigns_the_best_option_with_an_event_and_a_notification(grid_zones, user):
    PolicyFactory(organization=user.organization, auto_assign=True)
    workload = _pending(user, grid_zones["dirty"])

    report = recompute.recommendations_compute(workload_ids=[workload.pk])

    workload.refresh_from_db()
    assert report.auto_assigned == [workload.pk]
    assert workload.status == WorkloadStatus.SCHEDULED
    assert workload.chosen_grid_zone == grid_zones["clean"]
    assert workload.planned_start == timezone.now()
    event = WorkloadEvent.objects.get(workload=workload, action="assign")
    assert event.actor is None
    assert "automatically" in event.note and "Clean" in event.note
    notification = Notification.objects.get(recipient=user)
    assert notification.kind == NotificationKind.ASSIGNED
    assert "scheduling policy" in notification.body


def test_without_auto_assign_nothing_is_assigned(grid_zones, user):
    PolicyFactory(organization=user.organization, auto_assign=False)
    workload = _pending(user, grid_zones["dirty"])
    recompute.recommendations_compute(workload_ids=[workload.pk])
    workload.refresh_from_db()
    assert workload.status == WorkloadStatus.PENDING
    assert not Notification.objects.exists()


def test_an_unschedulable_workload_gets_the_engines_reason_and_one_notification(grid_zones, user):
    # 50 kWh at 50 g/kWh at best is 2,500 g: a 1,000 g cap cannot be met.
    workload = _pending(user, grid_zones["dirty"], carbon_cap_gco2=Decimal("1000"))

    report = recompute.recommendations_compute(workload_ids=[workload.pk])

    assert report.unschedulable == 1
    outcome = SchedulingOutcome.objects.get(workload=workload)
    assert not outcome.feasible
    assert outcome.constraint == InfeasibleConstraint.CARBON_CAP
    assert outcome.message
    assert not Recommendation.objects.filter(workload=workload).exists()
    workload.refresh_from_db()
    assert workload.recommended_grid_zone is None
    notification = Notification.objects.get(recipient=user)
    assert notification.kind == NotificationKind.UNSCHEDULABLE
    assert outcome.message.rstrip(".") in notification.body
    assert notification.workload == workload

    # Idempotent: the same computation again notifies nobody again...
    recompute.recommendations_compute(workload_ids=[workload.pk])
    assert Notification.objects.count() == 1
    # ...but a change of the workload that is still unschedulable does.
    ComputeWorkload.objects.filter(pk=workload.pk).update(updated_at=timezone.now() + timedelta(minutes=1))
    recompute.recommendations_compute(workload_ids=[workload.pk])
    assert Notification.objects.count() == 2


def test_a_workload_that_became_feasible_loses_the_reason(grid_zones, user):
    workload = _pending(user, grid_zones["dirty"], carbon_cap_gco2=Decimal("1000"))
    recompute.recommendations_compute(workload_ids=[workload.pk])
    ComputeWorkload.objects.filter(pk=workload.pk).update(carbon_cap_gco2=Decimal("5000"))
    recompute.recommendations_compute(workload_ids=[workload.pk])
    outcome = SchedulingOutcome.objects.get(workload=workload)
    assert outcome.feasible and outcome.constraint == "" and outcome.message == ""
    # Only the clean zone (2,500 g) meets a 5,000 g cap.
    assert list(Recommendation.objects.filter(workload=workload).values_list("zone", flat=True)) == [
        grid_zones["clean"].pk
    ]


@pytest.mark.parametrize("status", [WorkloadStatus.SCHEDULED, WorkloadStatus.RUNNING])
def test_scheduled_and_running_workloads_reserve_capacity(grid_zones, user, status):
    PolicyFactory(organization=user.organization)
    busy = WorkloadFactory(
        user=user,
        host_dc=grid_zones["clean"],
        status=status,
        chosen_grid_zone=grid_zones["clean"],
        planned_start=timezone.now() - timedelta(minutes=10),
        actual_start=timezone.now() - timedelta(minutes=10) if status == WorkloadStatus.RUNNING else None,
        required_gpu_mins=Decimal(8 * 600),  # all 8 GPUs of the clean zone for 10 hours
        estimated_duration_mins=600,
    )
    workload = _pending(user, grid_zones["dirty"])  # 1 GPU for 2 hours

    recompute.recommendations_compute(workload_ids=[workload.pk])

    zones = list(Recommendation.objects.filter(workload=workload).order_by("rank").values_list("zone", flat=True))
    assert zones == [grid_zones["mid"].pk, grid_zones["dirty"].pk]
    assert busy.pk not in set(Recommendation.objects.values_list("workload", flat=True))


def test_reservations_end_with_the_run(grid_zones, user):
    PolicyFactory(organization=user.organization)
    WorkloadFactory(
        user=user,
        host_dc=grid_zones["clean"],
        status=WorkloadStatus.SCHEDULED,
        chosen_grid_zone=grid_zones["clean"],
        planned_start=timezone.now() + timedelta(hours=5),
        required_gpu_mins=Decimal(8 * 60),
        estimated_duration_mins=60,
    )
    workload = _pending(user, grid_zones["dirty"])  # runs now, for 2 hours: no overlap
    recompute.recommendations_compute(workload_ids=[workload.pk])
    assert Recommendation.objects.get(workload=workload, rank=1).zone == grid_zones["clean"]


def test_the_most_urgent_workload_gets_the_scarce_clean_capacity(grid_zones, user):
    PolicyFactory(organization=user.organization)
    eight_gpus = {"required_gpu_mins": Decimal(8 * 120)}
    low = _pending(user, grid_zones["dirty"], urgency=Urgency.LOW, submitted_at=timezone.now() - timedelta(hours=1))
    critical = _pending(user, grid_zones["dirty"], urgency=Urgency.CRITICAL)
    ComputeWorkload.objects.filter(pk__in=[low.pk, critical.pk]).update(**eight_gpus)

    recompute.recommendations_compute(workload_ids=[low.pk, critical.pk])

    assert Recommendation.objects.get(workload=critical, rank=1).zone == grid_zones["clean"]
    assert Recommendation.objects.get(workload=low, rank=1).zone == grid_zones["mid"]


def test_unknown_forecast_is_no_option(grid_zones, user):
    from zones.models import ZoneIntensityReading

    ZoneIntensityReading.objects.all().delete()
    workload = _pending(user, grid_zones["dirty"])
    recompute.recommendations_compute(workload_ids=[workload.pk])
    assert SchedulingOutcome.objects.get(workload=workload).constraint == InfeasibleConstraint.NO_FORECAST


def test_the_query_count_does_not_grow_with_the_workloads(grid_zones, user):
    few = [_pending(user, grid_zones["dirty"], required_gpu_mins=0).pk for _ in range(3)]
    many = [_pending(user, grid_zones["dirty"], required_gpu_mins=0).pk for _ in range(30)]

    with CaptureQueriesContext(connection) as small:
        recompute.recommendations_compute(workload_ids=few)
    with CaptureQueriesContext(connection) as large:
        recompute.recommendations_compute(workload_ids=many)

    def kinds(captured):
        sql = [q["sql"] for q in captured.captured_queries]
        return [s for s in sql if not s.startswith("INSERT")], [s for s in sql if s.startswith("INSERT")]

    (small_other, small_inserts), (large_other, large_inserts) = kinds(small), kinds(large)
    # 12, and 6 for capacity: the overrunning runs and the other chunks' promises when computing; the zone
    # locks, the ledger, the overrunning runs and the promises again when reconciling; one reading back
    # the events' workload snapshots. PostgreSQL also takes the outbox's order lock (one SELECT) before
    # recording the events.
    assert len(large_other) == len(small_other) == 18 + (connection.vendor == "postgresql")
    # Bulk inserts: SQLite splits them at 999 parameters (90 rows of 20 columns: two statements).
    # the last is the outbox's workload.recommended events.
    assert len(small_inserts) == 3 and len(large_inserts) <= 5


class TestAssignmentFromRecommendation:
    def test_assigns_the_zone_and_start_of_that_rank_and_logs_it(self, grid_zones, user, operator):
        workload = _pending(user, grid_zones["dirty"])
        recompute.recommendations_compute(workload_ids=[workload.pk])

        assigned = services.assignment_from_recommendation(
            workload=workload, actor=operator, rank=2, note="Clean zone is for the demo."
        )

        assert assigned.status == WorkloadStatus.SCHEDULED
        assert assigned.chosen_grid_zone == grid_zones["mid"]
        assert assigned.planned_start == timezone.now()
        event = WorkloadEvent.objects.get(workload=workload, action="assign")
        assert event.actor == operator
        assert event.note.startswith("Recommendation #2: Mid from 2026-11-23 10:10 UTC")
        assert event.note.endswith("Clean zone is for the demo.")

    def test_no_such_rank_is_a_400_naming_rank(self, grid_zones, user, operator):
        workload = _pending(user, grid_zones["dirty"])
        with pytest.raises(ApplicationError) as error:
            services.assignment_from_recommendation(workload=workload, actor=operator, rank=1)
        assert "rank" in error.value.fields

    def test_other_organisations_operators_may_not(self, grid_zones, user, other_organization):
        workload = _pending(user, grid_zones["dirty"])
        recompute.recommendations_compute(workload_ids=[workload.pk])
        with pytest.raises(PermissionDenied):
            services.assignment_from_recommendation(
                workload=workload, actor=OperatorFactory(organization=other_organization), rank=1
            )


class TestPolicyUpdate:
    def test_a_preset_sets_its_weights(self, operator):
        policy = services.policy_update(
            organization_id=operator.organization_id, actor=operator, data={"preset": "COST_FIRST"}
        )
        assert (policy.carbon_weight, policy.price_weight, policy.wait_weight) == (0, 1, 0)
        assert policy.updated_by == operator

    def test_a_preset_with_other_weights_is_refused(self, operator):
        with pytest.raises(ValidationError) as error:
            services.policy_update(
                organization_id=operator.organization_id,
                actor=operator,
                data={"preset": "COST_FIRST", "carbon_weight": Decimal("0.5")},
            )
        assert "carbon_weight" in error.value.message_dict

    def test_custom_needs_a_positive_weight(self, operator):
        zero = {"carbon_weight": Decimal(0), "price_weight": Decimal(0), "wait_weight": Decimal(0)}
        with pytest.raises(ValidationError):
            services.policy_update(
                organization_id=operator.organization_id, actor=operator, data={"preset": "CUSTOM", **zero}
            )
        assert not SchedulingPolicy.objects.exists()

    def test_users_and_other_operators_may_not(self, user, organization, other_organization):
        for actor in (user, OperatorFactory(organization=other_organization)):
            with pytest.raises(PermissionDenied):
                services.policy_update(organization_id=organization.pk, actor=actor, data={"preset": "CARBON_FIRST"})

    def test_a_change_recomputes_the_organisations_pending_workloads_after_commit(
        self, operator, monkeypatch, django_capture_on_commit_callbacks
    ):
        from outbox.models import EventType, OutboxEvent
        from scheduling import tasks

        calls = []
        monkeypatch.setattr(tasks, "chunks_enqueue", lambda ids: calls.append(sorted(ids)))
        mine = _pending(UserFactory(organization=operator.organization), GridZoneFactory())
        _pending(UserFactory(), GridZoneFactory())  # another organisation's
        with django_capture_on_commit_callbacks(execute=True):
            services.policy_update(organization_id=operator.organization_id, actor=operator, data={"preset": "CUSTOM"})
            assert calls == []
        assert calls == [[mine.pk]]
        event = OutboxEvent.objects.get(type=EventType.POLICY_CHANGED)
        assert (event.organization_id, event.actor_id, event.handled_at is not None) == (
            operator.organization_id,
            operator.pk,
            True,
        )
