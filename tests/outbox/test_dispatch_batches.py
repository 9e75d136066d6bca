"""The relay publishes a transaction's events (and the sweep's) a chunk of ``OUTBOX_DISPATCH_BATCH``
a message; the task handles a chunk in id order, each event once and in its own transaction."""

import math

import pytest
from celery import signals
from django.db import OperationalError

from conftest import client_for
from outbox import registry, relay
from outbox import services as outbox
from outbox.models import EventType, OutboxEvent
from pylon.background import task_named
from pylon.celery import app
from pylon.observability import context
from pylon.observability.celery import REQUEST_ID_HEADER
from tests.zones.factories import GridZoneFactory

pytestmark = pytest.mark.django_db

LEGACY_TASK = "outbox.tasks.outbox_dispatch"


@pytest.fixture(autouse=True)
def chunk_of_three(settings):
    settings.OUTBOX_DISPATCH_BATCH = 3


@pytest.fixture
def messages():
    """The chunks the outbox's dispatch tasks ran (eager: each published message runs at once)."""
    chunks: list[list[int]] = []

    def note(task=None, args=None, **kwargs):
        if task.name == relay.DISPATCH_TASK:
            chunks.append(list(args[0]))

    signals.task_prerun.connect(note, weak=False)
    yield chunks
    signals.task_prerun.disconnect(note)


def _record(organization, n: int) -> list[int]:
    events = [outbox.NewEvent(type=EventType.POLICY_CHANGED, organization_id=organization.pk) for _ in range(n)]
    return [event.pk for event in outbox.events_record(events=events)]


def _handled_by(monkeypatch, handler) -> None:
    monkeypatch.setattr(registry, "_handlers", {EventType.POLICY_CHANGED: {"handler": handler}})


def _unhandled() -> list[int]:
    return list(OutboxEvent.objects.filter(handled_at__isnull=True).values_list("pk", flat=True))


def _sweep_everything(settings) -> int:
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    settings.OUTBOX_REDELIVER_AFTER_SECONDS = 0
    return relay.publish_pending()


@pytest.mark.parametrize("n", [1, 3, 7])
def test_a_transactions_events_are_one_message_a_chunk_and_all_handled(
    n, organization, monkeypatch, messages, django_capture_on_commit_callbacks
):
    seen = []
    _handled_by(monkeypatch, lambda event: seen.append(event.pk))
    with django_capture_on_commit_callbacks(execute=True):
        ids = _record(organization, n)
    assert len(messages) == math.ceil(n / 3)
    assert messages == [ids[k : k + 3] for k in range(0, n, 3)]  # in id order
    assert seen == ids and _unhandled() == []


def test_a_batch_upload_publishes_its_events_in_chunks(user, messages, django_capture_on_commit_callbacks):
    zone = GridZoneFactory()
    rows = [{"workload_name": f"Row {i}", "host_dc": str(zone.pk)} for i in range(8)]
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post("/api/v1/workloads/batch/", rows, format="json")
    assert response.status_code == 201, response.content
    submitted = list(OutboxEvent.objects.filter(type=EventType.WORKLOAD_SUBMITTED).values_list("pk", flat=True))
    assert [chunk for chunk in messages if set(chunk) <= set(submitted)] == [
        submitted[0:3],
        submitted[3:6],
        submitted[6:8],
    ]
    assert _unhandled() == []  # the submissions' and their recommendations' events alike


def test_a_failing_event_is_rolled_back_alone_and_the_sweep_handles_it_later(
    organization, monkeypatch, settings, messages, django_capture_on_commit_callbacks
):
    calls = []
    failing = {"id": None}

    def handler(event):
        calls.append(event.pk)
        OutboxEvent.objects.filter(pk=event.pk).update(last_error="written by the handler")
        if event.pk == failing["id"]:
            raise RuntimeError("the handler failed")

    _handled_by(monkeypatch, handler)
    with django_capture_on_commit_callbacks(execute=True):
        first, second, third = _record(organization, 3)
        failing["id"] = second
    assert messages == [[first, second, third]]
    assert calls == [first, second, third]  # the failure held up nothing after it
    assert _unhandled() == [second]
    assert OutboxEvent.objects.get(pk=second).last_error == ""  # its handler's write was rolled back

    failing["id"] = None
    assert _sweep_everything(settings) == 1
    assert calls == [first, second, third, second] and _unhandled() == []
    assert _sweep_everything(settings) == 0


def test_a_transient_failure_is_retried_for_its_event_alone(organization, monkeypatch, messages):
    calls = []

    def handler(event):
        calls.append(event.pk)
        if calls.count(event.pk) == 1 and event.pk == ids[1]:
            raise OperationalError("the database went away")

    _handled_by(monkeypatch, handler)
    ids = _record(organization, 3)
    # As a worker does: the retry is a message of its own (eager: run at once when not propagating).
    propagates, app.conf.task_eager_propagates = app.conf.task_eager_propagates, False
    try:
        task_named(relay.DISPATCH_TASK).apply(args=[ids])
    finally:
        app.conf.task_eager_propagates = propagates
    assert messages == [ids, [ids[1]]]
    assert calls == [ids[0], ids[1], ids[2], ids[1]]
    assert _unhandled() == []


def test_a_duplicate_message_does_no_double_work(organization, monkeypatch):
    seen = []
    _handled_by(monkeypatch, lambda event: seen.append(event.pk))
    ids = _record(organization, 2)
    dispatch = task_named(relay.DISPATCH_TASK)
    assert dispatch.apply(args=[ids + [ids[-1] + 1000]]).get() == {
        "handled": 2,
        "duplicate": 0,
        "missing": 1,
        "failed": 0,
    }
    assert dispatch.apply(args=[ids]).get() == {"handled": 0, "duplicate": 2, "missing": 0, "failed": 0}
    assert seen == ids


def test_a_message_of_the_single_event_task_from_before_the_deploy_is_still_handled(organization, monkeypatch):
    seen = []
    _handled_by(monkeypatch, lambda event: seen.append(event.pk))
    (event_id,) = _record(organization, 1)
    legacy = task_named(LEGACY_TASK)
    assert legacy.apply(args=[event_id]).get() == "handled"
    assert legacy.apply(args=[event_id]).get() == "duplicate"
    assert seen == [event_id] and _unhandled() == []


def test_with_the_broker_down_nothing_is_lost_and_the_sweep_publishes_in_chunks(
    organization, monkeypatch, settings, messages, django_capture_on_commit_callbacks
):
    seen = []
    _handled_by(monkeypatch, lambda event: seen.append(event.pk))

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    with monkeypatch.context() as outage:
        outage.setattr(relay, "_send", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            ids = _record(organization, 7)
    assert messages == [] and sorted(_unhandled()) == ids
    assert set(OutboxEvent.objects.values_list("published_at", "publish_attempts")) == {(None, 1)}

    assert _sweep_everything(settings) == 7
    assert messages == [ids[0:3], ids[3:6], ids[6:7]]
    assert seen == ids and _unhandled() == []


def test_each_event_is_handled_under_the_request_that_recorded_it(organization, monkeypatch, settings):
    """A sweep's chunk mixes requests: its message carries none, and each event's handler logs its own."""
    seen = []
    _handled_by(monkeypatch, lambda event: seen.append((event.pk, context.request_id.get())))
    recorded = {}
    for request_id in ("req-a", "req-b", "req-b"):
        token = context.request_id.set(request_id)
        try:
            (event_id,) = _record(organization, 1)
        finally:
            context.request_id.reset(token)
        recorded[event_id] = request_id
    dispatch = task_named(relay.DISPATCH_TASK)
    apply_async, sent = dispatch.apply_async, []

    def publish(args, headers=None, **kwargs):
        sent.append((args, headers))
        return apply_async(args=args, headers=headers, **kwargs)

    monkeypatch.setattr(dispatch, "apply_async", publish)
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    assert relay.publish_pending() == 3
    assert sent == [([sorted(recorded)], None)]
    assert seen == sorted(recorded.items())

    # A chunk of one request's events carries it in its header.
    OutboxEvent.objects.update(handled_at=None, published_at=None)
    sent.clear()
    relay.publish(event_ids=[pk for pk, r in recorded.items() if r == "req-b"], request_ids=recorded)
    assert sent == [([[pk for pk, r in sorted(recorded.items()) if r == "req-b"]], {REQUEST_ID_HEADER: "req-b"})]
