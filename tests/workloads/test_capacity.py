"""The capacity ledger: assignments never overbook a zone unless an operator says so and why."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from conftest import client_for
from notifications.models import Notification, NotificationKind
from scheduling import inputs, recompute
from scheduling import services as scheduling_services
from scheduling.models import Recommendation
from tests.accounts.factories import OperatorFactory, OrganizationFactory, UserFactory
from tests.scheduling.factories import PolicyFactory, set_forecast
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads import capacity, services
from workloads.models import CapacityHold, ComputeWorkload, WorkloadEvent, WorkloadStatus

WORKLOADS = "/api/v1/workloads/"
S = WorkloadStatus
TWO_HOURS = {"required_gpu_mins": Decimal(4 * 120), "estimated_duration_mins": 120}  # 4 GPUs for 2 hours


def _held(zone) -> dict:
    rows = CapacityHold.objects.filter(zone=zone).values("slot_start").annotate(gpus=Sum("gpus"))
    return {row["slot_start"]: row["gpus"] for row in rows}


def _busy(zone, user, gpus: int, start=None, hours: int = 2):
    """A SCHEDULED workload holding ``gpus`` GPUs of ``zone`` from ``start`` for ``hours``."""
    return WorkloadFactory(
        user=user,
        status=S.SCHEDULED,
        chosen_grid_zone=zone,
        planned_start=start or timezone.now(),
        required_gpu_mins=Decimal(gpus * 60 * hours),
        estimated_duration_mins=60 * hours,
    )


@pytest.fixture
def zone(db):
    return GridZoneFactory(zone_name="Lowland", gpu_capacity=8)


@pytest.mark.django_db
class TestAssign:
    def test_a_zone_that_cannot_hold_the_run_is_409_naming_zone_half_hours_and_resource(self, zone, user, operator):
        _busy(zone, user, gpus=6)
        workload = WorkloadFactory(user=user, **TWO_HOURS)

        response = client_for(operator).post(
            f"{WORKLOADS}{workload.id}/assign/", {"zone": str(zone.id), "reason": "closest"}, format="json"
        )

        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "capacity_exceeded"
        assert "Lowland" in body["message"] and "4 GPUs needed, at most 2 free" in body["message"]
        assert "half hour(s) between" in body["fields"]["zone"][0]["message"]
        workload.refresh_from_db()
        assert workload.status == S.PENDING and workload.chosen_grid_zone is None
        assert not CapacityHold.objects.filter(workload=workload).exists()

    def test_an_operator_may_override_with_a_reason_and_the_event_log_says_by_how_much(self, zone, user, operator):
        _busy(zone, user, gpus=6)
        workload = WorkloadFactory(user=user, **TWO_HOURS)

        response = client_for(operator).post(
            f"{WORKLOADS}{workload.id}/assign/",
            {"zone": str(zone.id), "reason": "the customer pays for the burst", "override_capacity": True},
            format="json",
        )

        assert response.status_code == 200
        note = WorkloadEvent.objects.get(workload=workload, action="assign").note
        assert note.startswith("Assigned over Lowland's capacity: 4 GPUs needed, at most 2 free")
        assert note.endswith("the customer pays for the burst")
        assert max(_held(zone).values()) == 10  # forced past the 8 GPUs, on the record

    def test_an_override_without_a_reason_is_a_400(self, zone, user, operator):
        workload = WorkloadFactory(user=user, **TWO_HOURS)
        response = client_for(operator).post(
            f"{WORKLOADS}{workload.id}/assign/", {"rank": 1, "override_capacity": True}, format="json"
        )
        assert response.status_code == 400 and "reason" in response.json()["fields"]
        assert ComputeWorkload.objects.get(pk=workload.pk).status == S.PENDING

    def test_policy_never_overrides(self, zone, user):
        workload = WorkloadFactory(user=user, **TWO_HOURS)
        with pytest.raises(Exception, match="says why"):
            services.workload_assign(workload=workload, actor=None, zone=zone, override_capacity=True, note="x")

    def test_the_run_holds_every_half_hour_it_touches(self, zone, user, operator):
        workload = WorkloadFactory(user=user, **TWO_HOURS)
        start = capacity.floor_half_hour(timezone.now()) + timedelta(hours=1, minutes=10)
        services.workload_assign(workload=workload, actor=operator, zone=zone, planned_start=start)
        slots = sorted(CapacityHold.objects.filter(workload=workload).values_list("slot_start", flat=True))
        assert slots == [start - timedelta(minutes=10) + k * timedelta(minutes=30) for k in range(5)]
        assert set(_held(zone).values()) == {4}

    def test_a_later_start_that_fits_is_taken(self, zone, user, operator):
        _busy(zone, user, gpus=6)
        workload = WorkloadFactory(user=user, **TWO_HOURS)
        later = capacity.floor_half_hour(timezone.now()) + timedelta(hours=3)
        assert services.workload_assign(workload=workload, actor=operator, zone=zone, planned_start=later).status == (
            S.SCHEDULED
        )

    def test_a_reassignment_does_not_count_its_own_holds(self, zone, user, operator):
        workload = WorkloadFactory(user=user, required_gpu_mins=Decimal(8 * 120), estimated_duration_mins=120)
        services.workload_assign(workload=workload, actor=operator, zone=zone)
        later = timezone.now() + timedelta(minutes=30)
        services.workload_assign(workload=workload, actor=operator, zone=zone, planned_start=later, reassign=True)
        assert max(_held(zone).values()) == 8

    @pytest.mark.parametrize("end", ["complete", "fail", "cancel"])
    def test_ending_a_run_releases_what_it_held(self, zone, user, operator, end):
        workload = WorkloadFactory(user=user, **TWO_HOURS)
        workload = services.workload_assign(workload=workload, actor=operator, zone=zone)
        workload = services.workload_start(workload=workload, actor=operator)
        assert CapacityHold.objects.filter(workload=workload).exists()
        getattr(services, f"workload_{end}")(workload=workload, actor=operator)
        assert not CapacityHold.objects.filter(workload=workload).exists()

    def test_a_started_run_holds_from_its_real_start(self, zone, user, operator):
        workload = WorkloadFactory(user=user, **TWO_HOURS)
        start = timezone.now() + timedelta(hours=4)
        workload = services.workload_assign(workload=workload, actor=operator, zone=zone, planned_start=start)
        services.workload_start(workload=workload, actor=operator)
        first = CapacityHold.objects.filter(workload=workload).order_by("slot_start").first().slot_start
        assert first == capacity.floor_half_hour(timezone.now())


@pytest.mark.django_db
class TestZoneCapacity:
    def test_lowering_below_what_is_held_is_refused_naming_it(self, zone, user, service_user):
        _busy(zone, user, gpus=6, start=timezone.now() + timedelta(hours=1))
        response = client_for(service_user).patch(f"/api/v1/zones/{zone.id}/", {"gpu_capacity": 4}, format="json")
        assert response.status_code == 400
        message = response.json()["fields"]["gpu_capacity"][0]["message"]
        assert message.startswith("Scheduled and running work holds 6 GPUs here at ")
        zone.refresh_from_db()
        assert zone.gpu_capacity == 8

    def test_lowering_to_what_is_held_is_allowed(self, zone, user, service_user):
        _busy(zone, user, gpus=6)
        response = client_for(service_user).patch(f"/api/v1/zones/{zone.id}/", {"gpu_capacity": 6}, format="json")
        assert response.status_code == 200
        zone.refresh_from_db()
        assert zone.gpu_capacity == 6


@pytest.mark.django_db
def test_the_migration_fills_the_ledger_from_scheduled_and_running_work(zone, user):
    from importlib import import_module

    scheduled = _busy(zone, user, gpus=3)
    running = WorkloadFactory(
        user=user, status=S.RUNNING, chosen_grid_zone=zone, actual_start=timezone.now(), **TWO_HOURS
    )
    WorkloadFactory(user=user, status=S.COMPLETED, chosen_grid_zone=zone, actual_start=timezone.now())
    expected = sorted(CapacityHold.objects.values_list("workload", "zone", "slot_start", "gpus"))
    CapacityHold.objects.all().delete()

    import_module("workloads.migrations.0005_fill_capacity_ledger").fill(django_apps, None)

    assert sorted(CapacityHold.objects.values_list("workload", "zone", "slot_start", "gpus")) == expected
    assert {w for w, *_ in expected} == {scheduled.pk, running.pk}


def _candidate(workload, zone, rank):
    return Recommendation(
        workload=workload,
        rank=rank,
        zone=zone,
        start=timezone.now(),
        end=timezone.now() + timedelta(hours=2),
        expected_emissions_kg=1.0,
        carbon_saving_kg=0.5,
    )


@pytest.mark.django_db
class TestAutoAssign:
    def _run(self, workload, ranked):
        row = ComputeWorkload.objects.filter(pk=workload.pk).values(*inputs.WORKLOAD_FIELDS).get()
        policies = {workload.organization_id: PolicyFactory(organization=workload.organization, auto_assign=True)}
        zones = inputs.context_load(now=timezone.now()).zones
        return scheduling_services.workloads_auto_assign(candidates=[(row, ranked)], policies=policies, zones=zones)

    def test_a_full_first_option_falls_back_to_the_next_at_its_own_start(self, zone, user):
        other = GridZoneFactory(zone_name="Upland", gpu_capacity=8)
        _busy(zone, user, gpus=6)
        workload = WorkloadFactory(user=user, **TWO_HOURS)
        ranked = [_candidate(workload, zone, 1), _candidate(workload, other, 2)]

        assert self._run(workload, ranked) == [workload.pk]

        workload.refresh_from_db()
        assert (workload.status, workload.chosen_grid_zone, workload.planned_start) == (
            S.SCHEDULED,
            other,
            ranked[1].start,
        )
        assert "recommendation #2" in WorkloadEvent.objects.get(workload=workload, action="assign").note

    def test_when_nothing_fits_it_stays_pending_and_the_owner_is_told(self, zone, user):
        _busy(zone, user, gpus=6)
        workload = WorkloadFactory(user=user, **TWO_HOURS)

        assert self._run(workload, [_candidate(workload, zone, 1)]) == []

        workload.refresh_from_db()
        assert workload.status == S.PENDING
        notice = Notification.objects.get(workload=workload)
        assert notice.kind == NotificationKind.UNSCHEDULABLE and "Lowland" in notice.body


@pytest.mark.django_db
def test_the_recompute_reconciles_a_stale_chunk_against_what_others_promised(user, monkeypatch):
    """Chunk B computed before chunk A stored its recommendations: the serialised step drops B's
    option in the zone A filled, so the recommendations of both never add up past its capacity."""
    clean, dirty = GridZoneFactory(gpu_capacity=8), GridZoneFactory(gpu_capacity=8)
    set_forecast(clean, 50.0)
    set_forecast(dirty, 300.0)
    PolicyFactory(organization=user.organization)
    a = WorkloadFactory(user=user, host_dc=dirty, deferral_window_mins=0, required_gpu_mins=Decimal(8 * 120))
    b = WorkloadFactory(user=user, host_dc=dirty, deferral_window_mins=0, required_gpu_mins=Decimal(8 * 120))
    recompute.recommendations_compute(workload_ids=[a.pk])
    assert Recommendation.objects.get(workload=a, rank=1).zone == clean

    real, calls = inputs.tentative_add, []

    def stale_then_real(**kwargs):  # B's parallel part did not see A's promise; its serialised step does
        calls.append(1)
        if len(calls) > 1:
            real(**kwargs)

    monkeypatch.setattr(inputs, "tentative_add", stale_then_real)
    recompute.recommendations_compute(workload_ids=[b.pk])

    assert Recommendation.objects.get(workload=b, rank=1).zone == dirty
    assert not Recommendation.objects.filter(workload=b, zone=clean).exists()


def _ledger_within_capacity() -> None:
    capacity_of = dict(
        ComputeWorkload._meta.get_field("host_dc").related_model.objects.values_list("pk", "gpu_capacity")
    )
    rows = CapacityHold.objects.values("zone", "slot_start").annotate(gpus=Sum("gpus"))
    over = [(row["zone"], row["slot_start"], row["gpus"]) for row in rows if row["gpus"] > capacity_of[row["zone"]]]
    assert over == []


postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row locks need PostgreSQL")


def _in_threads(targets) -> list:
    barrier = threading.Barrier(len(targets))
    results: list = []

    def run(target):
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # noqa: BLE001 - the test asserts on what each thread got
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_operators_racing_for_the_last_free_gpus_exactly_one_wins():
    organization = OrganizationFactory()
    operators = OperatorFactory.create_batch(2, organization=organization)
    owner = UserFactory(organization=organization)
    zone = GridZoneFactory(gpu_capacity=8)
    for _ in range(3):
        CapacityHold.objects.all().delete()
        _busy(zone, owner, gpus=4)
        workloads = [WorkloadFactory(user=owner, **TWO_HOURS) for _ in operators]

        def assign(operator, workload):
            body = {"zone": str(zone.id), "reason": "race"}
            return lambda: client_for(operator).post(f"{WORKLOADS}{workload.id}/assign/", body, format="json")

        results = _in_threads([assign(op, w) for op, w in zip(operators, workloads, strict=True)])

        assert sorted(r.status_code for r in results) == [200, 409]
        assert [r.json()["code"] for r in results if r.status_code == 409] == ["capacity_exceeded"]
        assert ComputeWorkload.objects.filter(pk__in=[w.pk for w in workloads], status=S.SCHEDULED).count() == 1
        _ledger_within_capacity()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_recomputes_with_auto_assign_never_overbook_a_contended_zone():
    organization = OrganizationFactory()
    owner = UserFactory(organization=organization)
    PolicyFactory(organization=organization, auto_assign=True)
    clean = GridZoneFactory(zone_name="Clean", gpu_capacity=8)
    dirty = GridZoneFactory(zone_name="Dirty", gpu_capacity=8)
    set_forecast(clean, 50.0)
    set_forecast(dirty, 300.0)
    workloads = [
        WorkloadFactory(user=owner, host_dc=dirty, deferral_window_mins=0, required_gpu_mins=Decimal(2 * 120))
        for _ in range(24)
    ]  # 2 GPUs each for 2 hours, all starting now: the clean zone holds 4 of them, the dirty one 4 more
    chunks = [[w.pk for w in workloads[k::4]] for k in range(4)]

    results = _in_threads(
        [lambda chunk=chunk: recompute.recommendations_compute(workload_ids=chunk) for chunk in chunks]
    )

    assert not [r for r in results if isinstance(r, Exception)]
    _ledger_within_capacity()
    scheduled = ComputeWorkload.objects.filter(status=S.SCHEDULED)
    assert scheduled.filter(chosen_grid_zone=clean).count() == 4  # contended, and filled
    assert scheduled.count() == 8
    assert sum(len(r.auto_assigned) for r in results) == 8
    pending = ComputeWorkload.objects.filter(status=S.PENDING)
    assert pending.count() == 16
    # Every GPU is held for the whole two hours, so no pending workload may still be promised one.
    assert not Recommendation.objects.filter(rank=1, workload__in=pending).exists()
