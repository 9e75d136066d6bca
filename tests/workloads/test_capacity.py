"""The capacity ledger: assignments never overbook a zone unless an operator says so and why."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from conftest import client_for
from notifications.models import Notification, NotificationKind
from scheduling import inputs, recompute
from scheduling import services as scheduling_services
from scheduling.models import Recommendation
from tests.accounts.factories import OperatorFactory, OrganizationFactory, ServiceUserFactory, UserFactory
from tests.scheduling.factories import PolicyFactory, RecommendationFactory, set_forecast
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads import capacity, services
from workloads.models import CapacityHold, ComputeWorkload, WorkloadEvent, WorkloadStatus

WORKLOADS = "/api/v1/workloads/"
S = WorkloadStatus
HALF = timedelta(minutes=30)
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
    def test_lowering_below_what_is_held_is_409_naming_the_half_hours_and_the_work(self, zone, user, service_user):
        start = capacity.floor_half_hour(timezone.now()) + timedelta(hours=1)
        busy = _busy(zone, user, gpus=6, start=start)
        _busy(zone, user, gpus=2, start=start + timedelta(hours=1))  # 8 GPUs in the second hour

        response = client_for(service_user).patch(f"/api/v1/zones/{zone.id}/", {"gpu_capacity": 7}, format="json")

        assert response.status_code == 409 and response.json()["code"] == "capacity_exceeded"
        message = response.json()["fields"]["gpu_capacity"][0]["message"]
        assert message.startswith("Scheduled and running work holds up to 8 GPUs here in 2 half hour(s) between ")
        first, end = capacity.fmt_utc(start + timedelta(hours=1)), capacity.fmt_utc(start + HALF * 4)
        assert f"between {first} and {end}" in message
        assert busy.job_id in message
        zone.refresh_from_db()
        assert zone.gpu_capacity == 8

    def test_work_held_in_the_past_does_not_count(self, zone, user, service_user):
        WorkloadFactory(
            user=user,
            status=S.RUNNING,
            chosen_grid_zone=zone,
            actual_start=timezone.now() - timedelta(hours=2, minutes=30),
            required_gpu_mins=Decimal(6 * 60),
            estimated_duration_mins=60,
        )
        # Overrunning: it holds the current half hour (6 GPUs), not only its hour long past.
        response = client_for(service_user).patch(f"/api/v1/zones/{zone.id}/", {"gpu_capacity": 5}, format="json")
        assert response.status_code == 409
        response = client_for(service_user).patch(f"/api/v1/zones/{zone.id}/", {"gpu_capacity": 6}, format="json")
        assert response.status_code == 200

    def test_the_console_refuses_it_too(self, zone, user):
        _busy(zone, user, gpus=6)
        form = {
            field.name: getattr(zone, field.attname)
            for field in zone._meta.concrete_fields
            if field.editable and field.name not in ("id",)
        }
        form = {name: "" if value is None else value for name, value in form.items()}
        form["gpu_capacity"] = 4
        console = Client()
        console.force_login(ServiceUserFactory(is_superuser=True, is_staff=True))
        response = console.post(f"/admin/zones/gridzone/{zone.pk}/change/", form)
        assert response.status_code == 200  # the form again, with the error
        assert "Scheduled and running work holds up to 6 GPUs" in response.content.decode()
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

    def test_when_nothing_fits_its_stale_options_are_computed_again(
        self, zone, user, django_capture_on_commit_callbacks
    ):
        _busy(zone, user, gpus=6)
        workload = WorkloadFactory(user=user, **TWO_HOURS)
        stale = RecommendationFactory(workload=workload, rank=1, zone=zone, start=timezone.now())

        with django_capture_on_commit_callbacks(execute=True):
            assert self._run(workload, [stale]) == []

        # Computed again against the ledger (eager Celery): the full zone is no longer offered.
        assert not Recommendation.objects.filter(workload=workload, zone=zone, start=stale.start).exists()
        assert ComputeWorkload.objects.get(pk=workload.pk).status == S.PENDING


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


#: Per zone and half hour, what the holds add up to, wherever that exceeds the zone's capacity: plain
#: SQL over the tables, not the ledger's code.
OVER_CAPACITY_BY_HOLDS = """
    SELECT h.zone_id, h.slot_start, SUM(h.gpus), SUM(h.cpu_cores), SUM(h.memory_gb)
    FROM workloads_capacityhold h JOIN zones_gridzone z ON z.id = h.zone_id
    GROUP BY h.zone_id, h.slot_start, z.gpu_capacity, z.cpu_core_capacity, z.memory_gb_capacity
    HAVING SUM(h.gpus) > z.gpu_capacity + 1e-9 OR SUM(h.cpu_cores) > z.cpu_core_capacity + 1e-9
        OR SUM(h.memory_gb) > z.memory_gb_capacity + 1e-9
"""
#: The same from the workloads' own windows (SCHEDULED: the planned run, RUNNING: the real one), each
#: spread over every half hour it touches; no hold row is read. PostgreSQL (generate_series, date_bin).
OVER_CAPACITY_BY_WINDOWS = """
    WITH runs AS (
        SELECT w.chosen_grid_zone_id AS zone_id,
               COALESCE(w.actual_start, w.planned_start) AS start,
               COALESCE(w.actual_start, w.planned_start) + w.estimated_duration_mins * interval '1 minute' AS "end",
               w.required_gpu_mins / w.estimated_duration_mins AS gpus,
               w.required_cpu_cores AS cores, w.required_memory_gb AS memory
        FROM workloads_computeworkload w WHERE w.status IN ('SCHEDULED', 'RUNNING')
    ), slots AS (
        SELECT r.*, s AS slot_start FROM runs r,
        generate_series(date_bin('30 minutes', r.start, TIMESTAMPTZ '2000-01-01'), r."end" - interval '1 microsecond',
                        interval '30 minutes') s
    )
    SELECT s.zone_id, s.slot_start, SUM(s.gpus), SUM(s.cores), SUM(s.memory)
    FROM slots s JOIN zones_gridzone z ON z.id = s.zone_id
    GROUP BY s.zone_id, s.slot_start, z.gpu_capacity, z.cpu_core_capacity, z.memory_gb_capacity
    HAVING SUM(s.gpus) > z.gpu_capacity + 1e-9 OR SUM(s.cores) > z.cpu_core_capacity
        OR SUM(s.memory) > z.memory_gb_capacity
"""


def _no_half_hour_over_capacity() -> None:
    with connection.cursor() as cursor:
        cursor.execute(OVER_CAPACITY_BY_HOLDS)
        assert cursor.fetchall() == []
        cursor.execute(OVER_CAPACITY_BY_WINDOWS)
        assert cursor.fetchall() == []


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
    for _ in range(3):
        zone = GridZoneFactory(gpu_capacity=8)
        _busy(zone, owner, gpus=4)
        workloads = [WorkloadFactory(user=owner, **TWO_HOURS) for _ in operators]

        def assign(operator, workload, zone=zone):
            body = {"zone": str(zone.id), "reason": "race"}
            return lambda: client_for(operator).post(f"{WORKLOADS}{workload.id}/assign/", body, format="json")

        results = _in_threads([assign(op, w) for op, w in zip(operators, workloads, strict=True)])

        assert sorted(r.status_code for r in results) == [200, 409]
        assert [r.json()["code"] for r in results if r.status_code == 409] == ["capacity_exceeded"]
        assert ComputeWorkload.objects.filter(pk__in=[w.pk for w in workloads], status=S.SCHEDULED).count() == 1
        _no_half_hour_over_capacity()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_recomputes_with_auto_assign_never_overbook_a_contended_zone():
    """Four chunks of one recompute, each auto-assigning, and an operator assigning into the same clean
    zone at the same moment: the clean zone fills exactly, and no half hour anywhere is over capacity."""
    organization = OrganizationFactory()
    owner = UserFactory(organization=organization)
    operator = OperatorFactory(organization=organization)
    PolicyFactory(organization=organization, auto_assign=True)
    clean = GridZoneFactory(zone_name="Clean", gpu_capacity=8)
    dirty = GridZoneFactory(zone_name="Dirty", gpu_capacity=8)
    set_forecast(clean, 50.0)
    set_forecast(dirty, 300.0)
    two_gpus = {"host_dc": dirty, "deferral_window_mins": 0, "required_gpu_mins": Decimal(2 * 120)}
    workloads = [WorkloadFactory(user=owner, **two_gpus) for _ in range(24)]
    # 2 GPUs each for 2 hours, all starting now: the clean zone holds 4 of them, the dirty one 4 more
    by_hand = WorkloadFactory(user=owner, **two_gpus)
    chunks = [[w.pk for w in workloads[k::4]] for k in range(4)]

    def operator_assigns():
        body = {"zone": str(clean.id), "reason": "by hand"}
        return client_for(operator).post(f"{WORKLOADS}{by_hand.id}/assign/", body, format="json")

    results = _in_threads(
        [lambda chunk=chunk: recompute.recommendations_compute(workload_ids=chunk) for chunk in chunks]
        + [operator_assigns]
    )

    answer = next(r for r in results if hasattr(r, "status_code"))
    reports = [r for r in results if not hasattr(r, "status_code")]
    assert not [r for r in reports if isinstance(r, Exception)]
    assert answer.status_code == 200 or answer.json()["code"] == "capacity_exceeded"
    _no_half_hour_over_capacity()
    scheduled = ComputeWorkload.objects.filter(status=S.SCHEDULED)
    assert scheduled.filter(chosen_grid_zone=clean).count() == 4  # contended, and filled
    assert scheduled.filter(chosen_grid_zone=dirty).count() == 4
    assert sum(len(r.auto_assigned) for r in reports) == 8 - (answer.status_code == 200)
    pending = ComputeWorkload.objects.filter(status=S.PENDING)
    assert pending.count() == 25 - 8
    # Every GPU is held for the whole two hours, so no pending workload may still be promised one.
    assert not Recommendation.objects.filter(rank=1, workload__in=pending).exists()


# -- holds that move: a start elsewhere in time, a late start, an overrun ---------------------------


@pytest.mark.django_db
class TestStartMovesTheHold:
    def _scheduled_later(self, zone, user, operator):
        """4 GPUs for 2 hours planned three hours ahead, while 6 GPUs are held from now."""
        _busy(zone, user, gpus=6)
        workload = WorkloadFactory(user=user, **TWO_HOURS)
        later = capacity.floor_half_hour(timezone.now()) + timedelta(hours=3)
        return services.workload_assign(workload=workload, actor=operator, zone=zone, planned_start=later)

    def test_starting_early_into_a_full_zone_is_409_and_changes_nothing(self, zone, user, operator):
        workload = self._scheduled_later(zone, user, operator)
        held_before = sorted(CapacityHold.objects.filter(workload=workload).values_list("slot_start", flat=True))

        response = client_for(operator).post(f"{WORKLOADS}{workload.id}/start/", {}, format="json")

        assert response.status_code == 409 and response.json()["code"] == "capacity_exceeded"
        assert "4 GPUs needed, at most 2 free" in response.json()["message"]
        workload.refresh_from_db()
        assert workload.status == S.SCHEDULED and workload.actual_start is None
        assert sorted(CapacityHold.objects.filter(workload=workload).values_list("slot_start", flat=True)) == (
            held_before
        )

    def test_an_operator_may_start_over_capacity_with_a_reason_on_the_record(self, zone, user, operator):
        workload = self._scheduled_later(zone, user, operator)

        response = client_for(operator).post(
            f"{WORKLOADS}{workload.id}/start/",
            {"note": "the customer's demo", "override_capacity": True},
            format="json",
        )

        assert response.status_code == 200, response.json()
        note = WorkloadEvent.objects.get(workload=workload, action="start").note
        assert note.startswith("Started over Lowland's capacity: 4 GPUs needed") and "the customer's demo" in note
        assert max(_held(zone).values()) == 10

    def test_the_console_refuses_it_and_offers_the_override(self, zone, user, operator_console, staff_operator):
        from django.contrib.messages import get_messages

        workload = self._scheduled_later(zone, user, staff_operator)
        url = f"/admin/workloads/computeworkload/{workload.pk}/console/start/"

        refused = operator_console.post(url, {"note": ""})
        assert "4 GPUs needed, at most 2 free" in " ".join(str(m) for m in get_messages(refused.wsgi_request))
        assert ComputeWorkload.objects.get(pk=workload.pk).status == S.SCHEDULED

        operator_console.post(url, {"note": "the demo", "override_capacity": "on"})
        assert ComputeWorkload.objects.get(pk=workload.pk).status == S.RUNNING
        assert WorkloadEvent.objects.get(workload=workload, action="start").note.startswith("Started over Lowland's")

    def test_an_override_of_a_start_needs_a_reason(self, zone, user, operator):
        workload = self._scheduled_later(zone, user, operator)
        response = client_for(operator).post(
            f"{WORKLOADS}{workload.id}/start/", {"override_capacity": True}, format="json"
        )
        assert response.status_code == 400 and "note" in response.json()["fields"]

    def test_starting_on_time_needs_no_room_beyond_its_own(self, zone, user, operator):
        workload = WorkloadFactory(user=user, required_gpu_mins=Decimal(8 * 120), estimated_duration_mins=120)
        workload = services.workload_assign(workload=workload, actor=operator, zone=zone)
        assert services.workload_start(workload=workload, actor=operator).status == S.RUNNING

    def test_a_recommendation_whose_start_passed_is_checked_at_the_start_it_moves_to(self, zone, user, operator):
        now = timezone.now()
        _busy(zone, user, gpus=6, start=capacity.floor_half_hour(now) + timedelta(hours=2))
        workload = WorkloadFactory(user=user, **TWO_HOURS)
        RecommendationFactory(
            workload=workload, rank=1, zone=zone, start=now - timedelta(hours=1)
        )  # fitted when computed; moved to now, its run reaches the busy hours
        with pytest.raises(capacity.CapacityExceeded):
            scheduling_services.assignment_from_recommendation(workload=workload, actor=operator, rank=1)
        assert ComputeWorkload.objects.get(pk=workload.pk).status == S.PENDING


def _slots(workload) -> list:
    return sorted(CapacityHold.objects.filter(workload=workload).values_list("slot_start", flat=True))


@pytest.mark.django_db
class TestHoldsFollowTheClock:
    def test_a_late_scheduled_workload_holds_its_whole_run_from_now_and_nothing_behind(self, zone, user):
        now = timezone.now()
        late = _busy(zone, user, gpus=2, start=capacity.floor_half_hour(now) - timedelta(hours=1))

        capacity.holds_roll(now=now)

        assert _slots(late) == capacity.run_slots(now, now + timedelta(hours=2))

    def test_within_its_planned_half_hour_a_scheduled_workload_keeps_its_planned_holds(self, zone, user):
        now = timezone.now()
        on_time = _busy(zone, user, gpus=2, start=capacity.floor_half_hour(now))
        before = _slots(on_time)
        capacity.holds_roll(now=now)
        assert _slots(on_time) == before

    def test_an_assignment_sees_the_late_run_it_would_collide_with(self, zone, user, operator):
        now = timezone.now()
        _busy(zone, user, gpus=6, start=capacity.floor_half_hour(now) - timedelta(hours=1, minutes=30))
        workload = WorkloadFactory(user=user, **TWO_HOURS)
        start = capacity.floor_half_hour(now) + timedelta(hours=1)  # free by the plan, not by the late run
        with pytest.raises(capacity.CapacityExceeded):
            services.workload_assign(workload=workload, actor=operator, zone=zone, planned_start=start)

    def test_a_run_past_its_estimate_holds_every_half_hour_until_now(self, zone, user):
        now = timezone.now()
        started = capacity.floor_half_hour(now) - timedelta(hours=3)
        overrun = WorkloadFactory(user=user, status=S.RUNNING, chosen_grid_zone=zone, actual_start=started, **TWO_HOURS)

        capacity.holds_roll(now=now)

        assert _slots(overrun) == capacity.run_slots(started, now)
        assert _slots(overrun)[-1] == capacity.floor_half_hour(now)

    def test_an_assignment_into_the_current_half_hour_sees_the_overrun(self, zone, user, operator):
        now = timezone.now()
        WorkloadFactory(
            user=user,
            status=S.RUNNING,
            chosen_grid_zone=zone,
            actual_start=now - timedelta(hours=3),
            required_gpu_mins=Decimal(6 * 120),
            estimated_duration_mins=120,
        )
        workload = WorkloadFactory(user=user, **TWO_HOURS)
        with pytest.raises(capacity.CapacityExceeded):
            services.workload_assign(workload=workload, actor=operator, zone=zone)

    def test_the_periodic_task_rolls_every_zone(self, zone, user):
        from workloads import tasks

        now = timezone.now()
        late = _busy(zone, user, gpus=2, start=capacity.floor_half_hour(now) - timedelta(hours=1))
        assert tasks.capacity_holds_roll.apply().get() == 0  # nothing over capacity
        assert _slots(late)[0] == capacity.floor_half_hour(timezone.now())


@postgres_only
@pytest.mark.django_db
def test_the_independent_check_sees_an_overbooked_half_hour(zone, user, operator):
    """The SQL the race tests trust finds overbooking, from the holds and from the windows alike."""
    _busy(zone, user, gpus=6)
    workload = WorkloadFactory(user=user, **TWO_HOURS)
    services.workload_assign(workload=workload, actor=operator, zone=zone, override_capacity=True, note="burst")
    with connection.cursor() as cursor:
        for query in (OVER_CAPACITY_BY_HOLDS, OVER_CAPACITY_BY_WINDOWS):
            cursor.execute(query)
            over = cursor.fetchall()
            assert {row[0] for row in over} == {zone.pk} and {row[2] for row in over} == {10}
            assert sorted(row[1] for row in over) == _slots(workload)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_reassignments_locking_two_zones_in_opposite_orders_do_not_deadlock():
    """Each reassignment locks the zone it leaves and the zone it enters; one moves A→B while the
    other moves B→A. Locked in one order (primary key), both go through, round after round."""
    organization = OrganizationFactory()
    operators = OperatorFactory.create_batch(2, organization=organization)
    owner = UserFactory(organization=organization)
    for _ in range(5):
        a, b = GridZoneFactory(gpu_capacity=8), GridZoneFactory(gpu_capacity=8)
        one = _busy(a, owner, gpus=2)
        two = _busy(b, owner, gpus=2)

        def move(operator, workload, to):
            body = {"zone": str(to.id), "reason": "swap", "reassign": True}
            return lambda: client_for(operator).post(f"{WORKLOADS}{workload.id}/assign/", body, format="json")

        results = _in_threads([move(operators[0], one, b), move(operators[1], two, a)])

        assert [getattr(r, "status_code", r) for r in results] == [200, 200]
        assert set(CapacityHold.objects.filter(workload=one).values_list("zone", flat=True)) == {b.pk}
        assert set(CapacityHold.objects.filter(workload=two).values_list("zone", flat=True)) == {a.pk}
        _no_half_hour_over_capacity()


@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="the SQLite settings are in force only on SQLite")
@pytest.mark.django_db
def test_on_sqlite_a_check_then_hold_waits_for_the_writer_ahead_instead_of_failing(tmp_path):
    """The ledger's check-then-hold on SQLite, in two threads on one database file, transactions begun
    as the project's connection options say: the second begins only once the first has committed
    (IMMEDIATE), so it sees the first one's hold and refuses; a plain (deferred) BEGIN would fail the
    second with "database is locked" when it tries to write on a stale read."""
    import sqlite3

    options = connection.settings_dict["OPTIONS"]
    path = tmp_path / "race.sqlite3"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE hold (gpus INTEGER NOT NULL)")

    def check_then_hold():
        db = sqlite3.connect(path, timeout=options["timeout"], isolation_level=None)
        try:
            db.execute(f"BEGIN {options.get('transaction_mode', '')}")
            (held,) = db.execute("SELECT COALESCE(SUM(gpus), 0) FROM hold").fetchone()
            threading.Event().wait(0.3)  # the other thread reaches its own read meanwhile
            if held + 6 > 8:
                db.execute("ROLLBACK")
                return "refused"
            db.execute("INSERT INTO hold (gpus) VALUES (6)")
            db.execute("COMMIT")
            return "held"
        finally:
            db.close()

    results = _in_threads([check_then_hold, check_then_hold])

    assert sorted(map(str, results)) == ["held", "refused"]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_run_ending_while_the_clock_rolls_its_holds_leaves_none_behind(monkeypatch):
    """The periodic roll extends an overrunning run's holds while an operator completes it: both write
    that workload's holds under its row's lock (the roll skips a row a transition holds, rather than
    wait for it with the zones locked: that order would deadlock), so the completed run holds nothing."""
    real_holds = capacity._holds

    def slow_holds(*args):  # the roll has read the run as RUNNING; the completion comes in meanwhile
        threading.Event().wait(0.5)
        return real_holds(*args)

    monkeypatch.setattr(capacity, "_holds", slow_holds)
    organization = OrganizationFactory()
    operator = OperatorFactory(organization=organization)
    owner = UserFactory(organization=organization)
    zone = GridZoneFactory(gpu_capacity=8)
    for _ in range(3):
        overrun = WorkloadFactory(
            user=owner,
            status=S.RUNNING,
            chosen_grid_zone=zone,
            actual_start=timezone.now() - timedelta(hours=4),
            **TWO_HOURS,
        )
        CapacityHold.objects.filter(workload=overrun, slot_start__gte=timezone.now() - HALF * 3).delete()

        results = _in_threads(
            [
                lambda: capacity.holds_roll_everywhere(now=timezone.now()),
                lambda workload=overrun: client_for(operator).post(f"{WORKLOADS}{workload.id}/complete/", {}),
            ]
        )

        assert not [r for r in results if isinstance(r, Exception)]
        assert ComputeWorkload.objects.get(pk=overrun.pk).status == S.COMPLETED
        assert not CapacityHold.objects.filter(workload=overrun).exists()
