"""The outbox → webhook fan-out, end to end: changes made through the API reach a real receiver on
loopback, signed (checked by the independent verifier of ``tests.webhooks.receiver``), shaped as the
schema's ``WebhookMessage`` with ``data.workload`` the API's workload; only subscribed endpoints of
the event's organisation get them; nothing for a rolled-back change; once per event."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import client_for
from outbox import services as outbox_services
from outbox.models import EventType, OutboxEvent
from tests.reliability.faults import broker_at, closed_port
from tests.schema_conformance import check_component
from tests.webhooks.factories import WebhookEndpointFactory
from tests.webhooks.receiver import Receiver, verify
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from webhooks import handlers, services
from webhooks.models import DeliveryStatus, WebhookDelivery
from workloads import services as workload_services

pytestmark = pytest.mark.django_db

WORKLOADS = "/api/v1/workloads/"


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_ALLOW_HTTP = True


@pytest.fixture
def zone(db):
    return GridZoneFactory()


@pytest.fixture
def receiver():
    with Receiver() as receiver:
        yield receiver


def _messages(receiver, endpoint):
    """What ``receiver`` got, each checked: signed with ``endpoint``'s secret, a ``WebhookMessage``,
    its id the ``webhook-id`` header."""
    messages = []
    for received in receiver.received:
        assert verify(secret=endpoint.secret, headers=received.headers, body=received.body)
        message = json.loads(received.body)
        check_component("WebhookMessage", message)
        assert message["id"] == received.headers["webhook-id"]
        messages.append(message)
    return messages


def _submit_via_api(user, zone, capture, **extra):
    with capture(execute=True):
        response = client_for(user).post(
            WORKLOADS, {"workload_name": "Hooked", "host_dc": str(zone.pk), **extra}, format="json"
        )
    assert response.status_code == 201, response.content
    return response.json()


def test_a_submission_through_the_api_delivers_workload_submitted_with_the_workload(
    user, zone, receiver, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpointFactory(
        organization=user.organization, url=receiver.url, event_types=["workload.submitted"]
    )
    answer = _submit_via_api(user, zone, django_capture_on_commit_callbacks)

    (message,) = _messages(receiver, endpoint)
    event = OutboxEvent.objects.get(subject_id=answer["id"], type=EventType.WORKLOAD_SUBMITTED)
    assert message["id"] == f"evt_{event.pk}"
    assert message["type"] == "workload.submitted"
    assert message["created_at"] == event.created_at.isoformat().replace("+00:00", "Z")
    # The workload as the submission left it: exactly what the API answered to the submission.
    assert message["data"] == {"workload": answer}
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.message_id, delivery.status) == (message["id"], DeliveryStatus.DELIVERED)


def test_assign_start_and_complete_deliver_their_types(
    operator, user, zone, receiver, django_capture_on_commit_callbacks
):
    types = ["workload.assigned", "workload.started", "workload.completed"]
    endpoint = WebhookEndpointFactory(organization=operator.organization, url=receiver.url, event_types=types)
    workload = WorkloadFactory(user=user, organization=operator.organization, host_dc=zone)
    client, url = client_for(operator), f"{WORKLOADS}{workload.pk}/"
    answers = []
    with django_capture_on_commit_callbacks(execute=True):
        for action, body in (("assign", {"zone": str(zone.pk), "reason": "Clean"}), ("start", {}), ("complete", {})):
            response = client.post(f"{url}{action}/", body, format="json")
            assert response.status_code == 200, response.content
            answers.append(response.json())

    messages = _messages(receiver, endpoint)
    assert [m["type"] for m in messages] == types
    assert [m["data"]["workload"] for m in messages] == answers  # each as its action left it
    assert [m["data"]["workload"]["status"] for m in messages] == ["SCHEDULED", "RUNNING", "COMPLETED"]
    assert messages[0]["data"]["note"] == "Clean"
    assert len({m["id"] for m in messages}) == 3


def test_only_subscribed_endpoints_of_the_organisation_receive(
    user, other_organization, zone, django_capture_on_commit_callbacks
):
    with Receiver() as wanted, Receiver() as unsubscribed, Receiver() as foreign, Receiver() as disabled:
        subscribed = WebhookEndpointFactory(
            organization=user.organization, url=wanted.url, event_types=["workload.submitted"]
        )
        WebhookEndpointFactory(organization=user.organization, url=unsubscribed.url, event_types=["workload.cancelled"])
        WebhookEndpointFactory(organization=other_organization, url=foreign.url, event_types=["workload.submitted"])
        WebhookEndpointFactory(
            organization=user.organization, url=disabled.url, event_types=["workload.submitted"], enabled=False
        )
        _submit_via_api(user, zone, django_capture_on_commit_callbacks)
    assert [m["type"] for m in _messages(wanted, subscribed)] == ["workload.submitted"]
    assert unsubscribed.received == foreign.received == disabled.received == []
    assert WebhookDelivery.objects.get().endpoint == subscribed


def test_a_500_is_retried_with_the_same_webhook_id(user, zone, django_capture_on_commit_callbacks):
    with Receiver(statuses=[500]) as receiver:
        endpoint = WebhookEndpointFactory(
            organization=user.organization, url=receiver.url, event_types=["workload.submitted"]
        )
        _submit_via_api(user, zone, django_capture_on_commit_callbacks)
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.PENDING, 1)
        with time_machine.travel(timezone.now() + timedelta(seconds=10)):
            assert services.deliveries_due_send() == 1
            first, retry = receiver.received
            assert verify(secret=endpoint.secret, headers=retry.headers, body=retry.body)
    assert first.headers["webhook-id"] == retry.headers["webhook-id"] == delivery.message_id
    assert first.body == retry.body
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.DELIVERED, 2)


def test_a_rolled_back_change_delivers_nothing(user, zone, receiver, django_capture_on_commit_callbacks):
    WebhookEndpointFactory(organization=user.organization, url=receiver.url, event_types=["workload.submitted"])
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        workload_services.workload_create(user=user, data={"workload_name": "Undone", "host_dc": zone})
        raise RuntimeError("the rest of the change failed")
    assert receiver.received == []
    assert not OutboxEvent.objects.exists() and not WebhookDelivery.objects.exists()


def test_an_event_handled_twice_creates_one_delivery(user, zone, receiver, django_capture_on_commit_callbacks):
    endpoint = WebhookEndpointFactory(
        organization=user.organization, url=receiver.url, event_types=["workload.submitted"]
    )
    answer = _submit_via_api(user, zone, django_capture_on_commit_callbacks)
    event = OutboxEvent.objects.get(subject_id=answer["id"], type=EventType.WORKLOAD_SUBMITTED)
    # A redelivered message after a worker died before noting the event handled: handled again.
    OutboxEvent.objects.filter(pk=event.pk).update(handled_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_services.event_handle(event_id=event.pk) == "handled"
        handlers.deliver_to_subscribed_endpoints(event)
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1
    assert len(receiver.received) == 1


def test_during_a_secret_rotation_both_signatures_are_sent(user, zone, receiver, django_capture_on_commit_callbacks):
    endpoint = WebhookEndpointFactory(
        organization=user.organization, url=receiver.url, event_types=["workload.submitted"]
    )
    old_secret = endpoint.secret
    services.webhook_endpoint_secret_rotate(endpoint=endpoint)
    _submit_via_api(user, zone, django_capture_on_commit_callbacks)
    (received,) = receiver.received
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    assert verify(secret=old_secret, headers=received.headers, body=received.body)
    assert verify(secret=endpoint.secret, headers=received.headers, body=received.body)


def test_a_batch_is_fanned_out_by_its_first_event_in_a_fixed_number_of_queries(
    user, zone, receiver, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpointFactory(
        organization=user.organization, url=receiver.url, event_types=["workload.submitted"]
    )

    def batch_and_its_fan_out_queries(rows: int) -> tuple[list, int]:
        with django_capture_on_commit_callbacks():  # recorded, not yet handled
            response = client_for(user).post(
                f"{WORKLOADS}batch/",
                [{"workload_name": f"Row {i}", "host_dc": str(zone.pk)} for i in range(rows)],
                format="json",
            )
        assert response.status_code == 201, response.content
        ids = [w["id"] for w in response.json()["workloads"]]
        events = list(OutboxEvent.objects.filter(subject_id__in=ids).order_by("id"))
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks() as kicks:
            for event in events:
                handlers.deliver_to_subscribed_endpoints(event)
        assert len(kicks) == 1  # every delivery of the batch queued over one broker connection
        return events, len(queries)

    few, few_queries = batch_and_its_fan_out_queries(2)
    many, many_queries = batch_and_its_fan_out_queries(30)
    assert few_queries == many_queries
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert sorted(deliveries.values_list("message_id", flat=True)) == sorted(f"evt_{e.pk}" for e in few + many)
    sent = {d.message_id: json.loads(d.body) for d in deliveries}
    for event in many:
        assert sent[f"evt_{event.pk}"]["data"]["workload"]["id"] == str(event.subject_id)
        check_component("WebhookMessage", sent[f"evt_{event.pk}"])


def test_an_event_recorded_with_a_partial_snapshot_sends_the_workload_as_it_is(
    user, zone, receiver, django_capture_on_commit_callbacks
):
    """Events recorded before the payload held every field (in flight during the deploy)."""
    endpoint = WebhookEndpointFactory(
        organization=user.organization, url=receiver.url, event_types=["workload.submitted"]
    )
    workload = WorkloadFactory(user=user, organization=user.organization, host_dc=zone)
    legacy = {"id": str(workload.pk), "job_id": workload.job_id, "workload_name": "old", "user": str(user.pk)}
    with django_capture_on_commit_callbacks(execute=True):
        outbox_services.event_record(
            type=EventType.WORKLOAD_SUBMITTED,
            organization_id=workload.organization_id,
            subject_id=workload.pk,
            payload={"workload": legacy},
        )
    (message,) = _messages(receiver, endpoint)
    assert message["data"]["workload"] == client_for(user).get(f"{WORKLOADS}{workload.pk}/").json()


@pytest.mark.django_db(transaction=True)
def test_the_sweep_sends_a_delivery_whose_kick_was_lost(user, zone, receiver):
    """The broker is unreachable when the delivery is kicked after its commit: the kick is logged and
    lost, the delivery stays pending and due, and the periodic sweep sends it."""
    endpoint = WebhookEndpointFactory(
        organization=user.organization, url=receiver.url, event_types=["workload.submitted"]
    )
    workload = WorkloadFactory(user=user, organization=user.organization, host_dc=zone)
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"):
        event = outbox_services.event_record(  # commits; its publish fails: the relay would retry it
            type=EventType.WORKLOAD_SUBMITTED,
            organization_id=workload.organization_id,
            subject_id=workload.pk,
            payload={"workload": workload_services.workload_snapshot(workload)},
        )
        handlers.deliver_to_subscribed_endpoints(event)  # commits; its kick meets the stopped broker
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.PENDING, 0)
    assert receiver.received == []

    assert services.deliveries_due_send() == 1  # the beat's sweep (``webhooks_send_due``), eager again
    (message,) = _messages(receiver, endpoint)
    assert message["id"] == f"evt_{event.pk}"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
