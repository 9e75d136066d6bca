"""The tasks: enqueued only after commit, idempotent, chunked in priority order, swept, retried."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import OperationalError, transaction
from django.utils import timezone

from outbox import relay
from outbox import services as outbox
from outbox.models import EventType, OutboxEvent
from scheduling import recompute, tasks
from scheduling.models import Recommendation, SchedulingOutcome
from tests.reliability.faults import cache_down  # noqa: F401  (fixture)
from tests.scheduling.factories import WorkloadFactory
from workloads import services as workload_services
from workloads.models import ComputeWorkload, Urgency

pytestmark = pytest.mark.django_db


def _publishes(callbacks) -> list:
    """The relay's after-commit publishes among the callbacks (``outbox.wake`` nudges the live streams too)."""
    return [callback for callback in callbacks if callback.__qualname__.startswith("publish_after_commit")]


def _submit(user, zone, **extra):
    data = {"workload_name": "Nightly training", "host_dc": zone, "estimated_energy_kwh": Decimal("20"), **extra}
    return workload_services.workload_create(user=user, data=data)


def test_submission_enqueues_the_computation_only_after_commit(grid_zones, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        workload = _submit(user, grid_zones["dirty"])
        # Inside the transaction nothing ran yet: a task would not see the row.
        assert not Recommendation.objects.filter(workload=workload).exists()
    # Publishing the submission's event, then the computation's workload.recommended (for webhooks).
    assert len(_publishes(callbacks)) == 2
    assert Recommendation.objects.filter(workload=workload).count() == 3


def test_a_rolled_back_submission_enqueues_nothing(grid_zones, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                _submit(user, grid_zones["dirty"])
                raise RuntimeError("the request failed after the insert")
        except RuntimeError:
            pass
    assert callbacks == []
    assert not Recommendation.objects.exists()


def test_a_change_of_a_pending_workload_recomputes_it(grid_zones, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        workload = _submit(user, grid_zones["dirty"])
    first = SchedulingOutcome.objects.get(workload=workload).computed_at
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        workload_services.workload_update(workload=workload, actor=user, data={"estimated_energy_kwh": Decimal("40")})
    assert len(_publishes(callbacks)) == 1
    outcome = SchedulingOutcome.objects.get(workload=workload)
    assert outcome.energy_kwh == 40.0
    assert outcome.workload_updated_at == ComputeWorkload.objects.get(pk=workload.pk).updated_at
    assert outcome.computed_at >= first


def test_a_broker_outage_at_submission_does_not_fail_the_submission(
    grid_zones, user, monkeypatch, settings, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(relay, "_send", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        workload = _submit(user, grid_zones["dirty"])
    assert ComputeWorkload.objects.filter(pk=workload.pk).exists()
    assert not Recommendation.objects.exists()
    event = OutboxEvent.objects.get(subject_id=workload.pk, type=EventType.WORKLOAD_SUBMITTED)
    assert (event.published_at, event.handled_at, event.publish_attempts) == (None, None, 1)
    assert "redis is down" in event.last_error

    # The broker is back: the relay publishes what was left, and the workload gets its options.
    monkeypatch.undo()
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    assert relay.publish_pending() == 1
    assert Recommendation.objects.filter(workload=workload).count() == 3
    event.refresh_from_db()
    assert event.published_at is not None and event.handled_at is not None
    # The computation's workload.recommended: recorded in the drain, whose commit publish a test never runs.
    assert relay.publish_pending() == 1
    assert relay.publish_pending() == 0


def test_the_sweep_catches_a_workload_whose_task_was_lost(grid_zones, user, frozen):
    lost = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])  # created without its task
    done = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    recompute.recommendations_compute(workload_ids=[done.pk])
    just_now = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    ComputeWorkload.objects.filter(pk__in=[lost.pk, done.pk]).update(updated_at=timezone.now() - timedelta(minutes=5))
    SchedulingOutcome.objects.filter(workload=done).update(workload_updated_at=timezone.now() - timedelta(minutes=5))

    assert tasks.sweep_unrecommended.delay().get() == 1

    assert Recommendation.objects.filter(workload=lost).count() == 3
    # Too fresh to tell: its own task is probably still in flight; the next sweep takes it.
    assert not Recommendation.objects.filter(workload=just_now).exists()
    # A second sweep finds nothing left to do.
    assert tasks.sweep_unrecommended.delay().get() == 0


def test_the_sweep_catches_a_workload_changed_since_its_computation(grid_zones, user):
    workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    recompute.recommendations_compute(workload_ids=[workload.pk])
    later = timezone.now() + timedelta(minutes=1)
    ComputeWorkload.objects.filter(pk=workload.pk).update(updated_at=later)  # its change task was lost
    from scheduling import selectors

    assert selectors.pending_ids_needing_recommendations() == [workload.pk]
    tasks.recommend_workloads.delay([str(workload.pk)])
    assert selectors.pending_ids_needing_recommendations() == []


def test_recompute_pending_splits_the_queue_into_chunks_most_urgent_first(grid_zones, user, monkeypatch):
    monkeypatch.setattr(tasks, "CHUNK_SIZE", 2)
    low = [WorkloadFactory(user=user, host_dc=grid_zones["dirty"], urgency=Urgency.LOW) for _ in range(2)]
    critical = WorkloadFactory(user=user, host_dc=grid_zones["dirty"], urgency=Urgency.CRITICAL)
    high = WorkloadFactory(user=user, host_dc=grid_zones["dirty"], urgency=Urgency.HIGH)
    soon = WorkloadFactory(
        user=user, host_dc=grid_zones["dirty"], urgency=Urgency.HIGH, deadline=timezone.now() + timedelta(hours=5)
    )
    chunks = []
    real = recompute.recommendations_compute

    def spy(*, workload_ids, now=None):
        chunks.append(set(workload_ids))
        return real(workload_ids=workload_ids, now=now)

    monkeypatch.setattr(recompute, "recommendations_compute", spy)

    assert tasks.recompute_pending.delay().get() == 3

    assert chunks == [
        {str(critical.pk), str(soon.pk)},
        {str(high.pk), str(min(low, key=lambda w: (w.submitted_at, str(w.pk))).pk)},
        {str(max(low, key=lambda w: (w.submitted_at, str(w.pk))).pk)},
    ]
    assert SchedulingOutcome.objects.count() == 5


def test_recompute_pending_of_one_organisation(grid_zones, user, other_organization):
    from tests.accounts.factories import UserFactory

    mine = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    theirs = WorkloadFactory(user=UserFactory(organization=other_organization), host_dc=grid_zones["dirty"])
    tasks.recompute_pending.delay(organization_id=str(user.organization_id))
    assert SchedulingOutcome.objects.filter(workload=mine).exists()
    assert not SchedulingOutcome.objects.filter(workload=theirs).exists()


def test_a_carbon_refresh_recomputes_every_pending_workload(grid_zones, user, django_capture_on_commit_callbacks):
    workloads = [WorkloadFactory(user=user, host_dc=grid_zones["dirty"]) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        outbox.event_record(type=EventType.ZONE_FORECASTS_UPDATED, payload={"zone_ids": [str(grid_zones["mid"].pk)]})
        assert not SchedulingOutcome.objects.exists()
    assert len(_publishes(callbacks)) == 2  # the refresh's event, then the computation's workload.recommended events
    assert SchedulingOutcome.objects.filter(workload__in=workloads).count() == 3


def test_the_task_is_idempotent(grid_zones, user):
    workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    ids = [str(workload.pk)]
    first = tasks.recommend_workloads.delay(ids).get()
    rows = list(Recommendation.objects.order_by("rank").values_list("rank", "zone", "start", "expected_emissions_kg"))
    second = tasks.recommend_workloads.delay(ids).get()
    assert first == second == {"computed": 1, "skipped": 0, "unschedulable": 0, "auto_assigned": 0}
    assert list(
        Recommendation.objects.order_by("rank").values_list("rank", "zone", "start", "expected_emissions_kg")
    ) == (rows)


@pytest.fixture
def eager_retries():
    """Eager Celery simulates retries only when it does not propagate errors at once."""
    from pylon.celery import app

    before = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = before


def test_transient_database_errors_are_retried(grid_zones, user, monkeypatch, eager_retries):
    workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    calls = []
    real = recompute.recommendations_compute

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(recompute, "recommendations_compute", flaky)
    assert tasks.recommend_workloads.delay([str(workload.pk)]).get()["computed"] == 1
    assert len(calls) == 2


def test_retries_are_bounded(grid_zones, user, monkeypatch, eager_retries):
    workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    calls = []

    def down(**kwargs):
        calls.append(1)
        raise OperationalError("the database is down")

    monkeypatch.setattr(recompute, "recommendations_compute", down)
    with pytest.raises(OperationalError):
        tasks.recommend_workloads.delay([str(workload.pk)]).get()
    assert len(calls) == 1 + tasks.RETRY["max_retries"]


def test_a_chunk_another_worker_is_computing_is_retried_later(grid_zones, user, monkeypatch, eager_retries):
    from django.core.cache import cache

    workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    ids = [str(workload.pk)]
    real_add = cache.add
    attempts = []

    def busy_once(key, *args, **kwargs):
        attempts.append(key)
        return False if len(attempts) == 1 else real_add(key, *args, **kwargs)

    monkeypatch.setattr(cache, "add", busy_once)
    assert tasks.recommend_workloads.delay(ids).get()["computed"] == 1
    assert attempts == [tasks._lock_key(ids)] * 2
    assert cache.get(tasks._lock_key(ids)) is None  # released


def test_a_scheduling_run_is_timed_and_counted(grid_zones, user, django_capture_on_commit_callbacks):
    from prometheus_client import REGISTRY

    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    runs = value("pylon_scheduling_run_duration_seconds_count")
    considered = value("pylon_scheduling_run_workloads_sum")
    computed = value("pylon_scheduling_workloads_total", outcome="computed")
    with django_capture_on_commit_callbacks(execute=True):
        _submit(user, grid_zones["dirty"])
    assert value("pylon_scheduling_run_duration_seconds_count") == runs + 1
    assert value("pylon_scheduling_run_workloads_sum") == considered + 1
    assert value("pylon_scheduling_workloads_total", outcome="computed") == computed + 1


@pytest.mark.usefixtures("cache_down")
def test_a_run_goes_ahead_unlocked_when_the_cache_is_down(grid_zones, user):
    workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    report = tasks.recommend_workloads.delay([str(workload.pk)]).get()
    assert report["computed"] == 1
    assert Recommendation.objects.filter(workload=workload).count() == 3


def test_a_redelivered_task_takes_over_the_lock_its_killed_run_left(grid_zones, user, monkeypatch):
    """A worker killed mid-chunk leaves its lock; the same message delivered again (same task id)
    must not wait for it to expire, while a different task still must."""
    from django.core.cache import cache

    workload = WorkloadFactory(user=user, host_dc=grid_zones["dirty"])
    ids = [str(workload.pk)]
    cache.set(tasks._lock_key(ids), "the-dead-run", timeout=tasks.LOCK_SECONDS)
    assert tasks.recommend_workloads.apply(args=[ids], task_id="the-dead-run").get()["computed"] == 1
    assert cache.get(tasks._lock_key(ids)) is None

    cache.set(tasks._lock_key(ids), "another-task", timeout=tasks.LOCK_SECONDS)
    assert not tasks._lock_chunk(tasks._lock_key(ids), holder="a-third-task")
