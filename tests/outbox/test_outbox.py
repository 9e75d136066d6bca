"""The event log: written in the change's transaction, ordered, read from a cursor, handled once."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from outbox import registry, relay, selectors
from outbox import services as outbox
from outbox.models import EventType, OutboxEvent
from pylon.background import task_named as background_task
from tests.scheduling.factories import GridZoneFactory, set_forecast
from workloads import services as workload_services
from workloads.models import WorkloadStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def zone(db):
    zone = GridZoneFactory(zone_name="Outboxed")
    set_forecast(zone, 120.0)
    return zone


@pytest.fixture
def handled(monkeypatch):
    """Replace every registered handler with one that notes the events it sees."""
    seen: list[OutboxEvent] = []
    monkeypatch.setattr(
        registry,
        "_handlers",
        {t: {"note": seen.append} for t in (EventType.WORKLOAD_SUBMITTED, EventType.POLICY_CHANGED)},
    )
    return seen


def _submit(user, zone):
    return workload_services.workload_create(
        user=user, data={"workload_name": "Logged", "host_dc": zone, "estimated_energy_kwh": Decimal("5")}
    )


def test_a_submission_records_its_event_in_its_transaction(user, zone, handled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        workload = _submit(user, zone)
        event = OutboxEvent.objects.get()
        assert handled == []  # nothing runs before the commit
    assert (event.type, event.organization_id, event.subject_id, event.actor_id) == (
        EventType.WORKLOAD_SUBMITTED,
        user.organization_id,
        workload.pk,
        user.pk,
    )
    assert event.payload["workload"]["job_id"] == workload.job_id
    assert event.payload["workload"]["status"] == WorkloadStatus.PENDING
    assert [e.pk for e in handled] == [event.pk]
    event.refresh_from_db()
    assert event.published_at is not None and event.handled_at is not None


def test_a_rolled_back_change_leaves_no_event_and_publishes_nothing(
    user, zone, handled, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _submit(user, zone)
        raise RuntimeError("the request failed after the insert")
    assert callbacks == [] and handled == []
    assert not OutboxEvent.objects.exists()


def test_lifecycle_actions_record_their_events_in_order(user, operator, zone, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        workload = _submit(user, zone)
    with django_capture_on_commit_callbacks(execute=True):
        workload_services.workload_assign(
            workload=workload, actor=operator, zone=zone, planned_start=timezone.now() + timedelta(minutes=5), note="go"
        )
        workload_services.workload_start(workload=workload, actor=operator)
        workload_services.workload_complete(workload=workload, actor=operator)
    events = selectors.events_after(after_id=0, subject_id=workload.pk)
    assert [e.type for e in events] == [
        EventType.WORKLOAD_SUBMITTED,
        EventType.WORKLOAD_RECOMMENDED,
        EventType.WORKLOAD_ASSIGNED,
        EventType.WORKLOAD_STARTED,
        EventType.WORKLOAD_COMPLETED,
    ]
    assigned = events[2]
    assert (assigned.actor_id, assigned.payload["from_status"], assigned.payload["note"]) == (
        operator.pk,
        WorkloadStatus.PENDING,
        "go",
    )
    assert assigned.payload["workload"]["chosen_grid_zone"] == str(zone.pk)
    assert all(e.handled_at is not None for e in events)  # by their handlers (webhooks), after each commit


def test_an_event_no_handler_wants_is_handled_when_recorded(
    organization, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(registry, "_handlers", {})
    with django_capture_on_commit_callbacks() as callbacks:
        event = outbox.event_record(type=EventType.POLICY_CHANGED, organization_id=organization.pk)
    assert event.handled_at is not None and event.published_at is not None
    assert callbacks == []  # nothing is published to the broker after the commit


def test_a_reader_resumes_after_the_last_id_it_saw(organization, other_organization):
    for org in (organization, other_organization, organization):
        outbox.event_record(type=EventType.POLICY_CHANGED, organization_id=org.pk)
    first, second, third = OutboxEvent.objects.order_by("id")
    assert first.pk < second.pk < third.pk
    assert selectors.events_after(after_id=first.pk) == [second, third]
    assert selectors.events_after(after_id=0, organization_id=organization.pk) == [first, third]
    assert selectors.events_after(after_id=0, limit=1) == [first]
    assert selectors.events_after(after_id=third.pk) == []
    assert selectors.events_after(after_id=0, types=[EventType.WORKLOAD_FAILED]) == []


def test_an_unknown_event_type_is_refused(db):
    with pytest.raises(ValueError, match="unknown event type"):
        outbox.event_record(type="workload.exploded")


def test_an_event_is_handled_once_however_often_it_is_delivered(organization, handled):
    event = outbox.event_record(type=EventType.POLICY_CHANGED, organization_id=organization.pk)
    assert outbox.event_handle(event_id=event.pk) == "handled"
    assert outbox.event_handle(event_id=event.pk) == "duplicate"
    assert outbox.event_handle(event_id=event.pk + 1000) == "missing"
    assert [e.pk for e in handled] == [event.pk]


def test_a_failing_handler_leaves_the_event_for_the_relay(organization, monkeypatch, settings):
    calls = []

    def flaky(event):
        calls.append(event.pk)
        if len(calls) == 1:
            raise RuntimeError("handler failed")

    monkeypatch.setattr(registry, "_handlers", {EventType.POLICY_CHANGED: {"flaky": flaky}})
    event = outbox.event_record(type=EventType.POLICY_CHANGED, organization_id=organization.pk)
    relay.publish(event_ids=[event.pk])  # eager: runs the handler in-process, which fails
    event.refresh_from_db()
    assert event.handled_at is None
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    settings.OUTBOX_REDELIVER_AFTER_SECONDS = 0
    assert relay.publish_pending() == 1
    event.refresh_from_db()
    assert event.handled_at is not None and calls == [event.pk, event.pk]
    assert relay.publish_pending() == 0


def test_an_event_carries_the_request_id_of_its_change_to_its_message(organization, handled, settings, monkeypatch):
    """Published later by the drain (no request around any more), the message still names the request."""
    from pylon.observability import context
    from pylon.observability.celery import REQUEST_ID_HEADER

    token = context.request_id.set("req-outbox-1")
    try:
        event = outbox.event_record(type=EventType.POLICY_CHANGED, organization_id=organization.pk)
    finally:
        context.request_id.reset(token)
    assert event.request_id == "req-outbox-1"
    dispatch = background_task(relay.DISPATCH_TASK)
    sent = []
    monkeypatch.setattr(dispatch, "apply_async", lambda args, headers=None, **kw: sent.append((args, headers)))
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    assert relay.publish_pending() == 1
    assert sent == [([[event.pk]], {REQUEST_ID_HEADER: "req-outbox-1"})]


def test_an_event_recorded_outside_a_request_has_no_request_id(organization, handled):
    assert outbox.event_record(type=EventType.POLICY_CHANGED, organization_id=organization.pk).request_id == ""


def test_a_batchs_subjects_are_read_from_its_first_event(organization):
    import uuid

    subjects = [uuid.uuid4() for _ in range(3)]
    outbox.event_record(type=EventType.WORKLOAD_SUBMITTED, organization_id=organization.pk, subject_id=uuid.uuid4())
    rows = outbox.events_record(
        events=[
            outbox.NewEvent(
                type=EventType.WORKLOAD_SUBMITTED,
                organization_id=organization.pk,
                subject_id=pk,
                payload={"batch": {"id": "b-1", "index": index, "size": 3}},
            )
            for index, pk in enumerate(subjects)
        ]
    )
    outbox.event_record(type=EventType.WORKLOAD_SUBMITTED, organization_id=organization.pk, subject_id=uuid.uuid4())
    assert selectors.event_batch_subject_ids(event=rows[0]) == subjects
    with pytest.raises(ValueError, match="not the first"):
        selectors.event_batch_subject_ids(event=rows[1])
    lone = OutboxEvent.objects.order_by("id").first()
    assert selectors.event_batch_subject_ids(event=lone) == [lone.subject_id]


def test_prune_deletes_only_old_handled_events(organization, handled):
    old_handled = outbox.event_record(type=EventType.POLICY_CHANGED, organization_id=organization.pk)
    outbox.event_handle(event_id=old_handled.pk)
    old_pending = outbox.event_record(type=EventType.POLICY_CHANGED, organization_id=organization.pk)
    recent = outbox.event_record(type=EventType.ZONE_FORECASTS_UPDATED)
    OutboxEvent.objects.filter(pk__in=[old_handled.pk, old_pending.pk]).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    assert outbox.events_prune(before=timezone.now() - timedelta(days=30)) == 1
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {old_pending.pk, recent.pk}


def test_the_relay_command_reports_the_backlog(organization, handled, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    OutboxEvent.objects.create(type=EventType.POLICY_CHANGED, organization=organization)  # never published
    out = StringIO()
    call_command("outbox_relay", stdout=out)
    assert out.getvalue().startswith("published 1; 0 event(s) unhandled")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises every writer anyway")
def test_ids_follow_commit_order_so_a_cursor_never_skips_a_late_commit(organization):
    """A writer that recorded an event and has not committed yet holds back every other writer's
    event: a reader that saw id N can never later find a committed id below N."""
    first_recorded = threading.Event()
    ids: dict[str, int] = {}

    def slow_writer():
        try:
            with transaction.atomic():
                ids["slow"] = outbox.event_record(type=EventType.POLICY_CHANGED, organization_id=organization.pk).pk
                first_recorded.set()
                time.sleep(0.5)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert first_recorded.wait(5)
    started = time.monotonic()
    fast = outbox.event_record(type=EventType.POLICY_CHANGED, organization_id=organization.pk)
    waited = time.monotonic() - started
    thread.join(5)
    assert fast.pk > ids["slow"]
    assert waited > 0.2  # it waited for the slow writer's commit before taking its id
