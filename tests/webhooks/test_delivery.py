"""Delivery to a receiver on loopback: signatures checked by an independent verifier, retries with
the same id after a 500, both signatures during a rotation, refusal at delivery time, disabling."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from notifications.models import Notification, NotificationKind
from tests.accounts.factories import OperatorFactory
from tests.webhooks.factories import WebhookDeliveryFactory, WebhookEndpointFactory
from tests.webhooks.receiver import Receiver, verify
from webhooks import services, targets
from webhooks.models import DeliveryStatus, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_ALLOW_HTTP = True


def _ping(endpoint, capture):
    with capture(execute=True):
        return services.webhook_ping(endpoint=endpoint)


def test_a_ping_arrives_signed_per_standard_webhooks(django_capture_on_commit_callbacks):
    with Receiver() as receiver:
        endpoint = WebhookEndpointFactory(url=receiver.url)
        delivery = _ping(endpoint, django_capture_on_commit_callbacks)
    (message,) = receiver.received
    assert message.path == "/hooks/pylon"
    assert message.headers["content-type"] == "application/json"
    assert message.headers["webhook-id"] == delivery.message_id
    assert verify(secret=endpoint.secret, headers=message.headers, body=message.body)
    assert not verify(secret=services.signing.secret_generate(), headers=message.headers, body=message.body)
    assert not verify(secret=endpoint.secret, headers=message.headers, body=message.body + b" ")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    (attempt,) = delivery.attempts.all()
    assert (attempt.status_code, attempt.succeeded, attempt.response_excerpt) == (200, True, "thanks")


def test_a_500_is_retried_later_with_the_same_id_and_body(django_capture_on_commit_callbacks):
    with Receiver(statuses=[500]) as receiver:
        endpoint = WebhookEndpointFactory(url=receiver.url)
        delivery = _ping(endpoint, django_capture_on_commit_callbacks)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.PENDING, 1)
        wait = delivery.next_attempt_at - timezone.now()
        assert timedelta(seconds=3) < wait < timedelta(seconds=7)  # 5 s ± 20 % jitter
        assert services.deliveries_due_send() == 0  # not due yet
        with time_machine.travel(timezone.now() + timedelta(seconds=10)):
            assert services.deliveries_due_send() == 1
    first, retry = receiver.received
    assert first.headers["webhook-id"] == retry.headers["webhook-id"] == delivery.message_id
    assert first.body == retry.body
    assert verify(
        secret=endpoint.secret, headers=retry.headers, body=retry.body, now=int(retry.headers["webhook-timestamp"])
    )
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    failed, succeeded = delivery.attempts.all()
    assert (failed.status_code, failed.succeeded) == (500, False)
    assert len(failed.response_excerpt) == 1000  # capped
    assert (succeeded.status_code, succeeded.succeeded) == (200, True)


def test_the_retry_schedule_spans_about_three_days_then_gives_up(monkeypatch):
    monkeypatch.setattr(services, "JITTER", 0)
    total = sum((services._retry_delay(n) for n in range(1, len(services.RETRY_SCHEDULE) + 1)), timedelta())
    assert timedelta(days=3) <= total <= timedelta(days=3, hours=6)
    assert services._retry_delay(len(services.RETRY_SCHEDULE) + 1) is None


def test_a_delivery_out_of_attempts_fails(django_capture_on_commit_callbacks):
    with Receiver(statuses=[503]) as receiver:
        delivery = WebhookDeliveryFactory(endpoint__url=receiver.url, attempt_count=len(services.RETRY_SCHEDULE))
        assert services.webhook_delivery_attempt(delivery_id=delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == (DeliveryStatus.FAILED, None)


def test_during_a_rotation_both_secrets_sign(django_capture_on_commit_callbacks):
    with Receiver() as receiver:
        endpoint = WebhookEndpointFactory(url=receiver.url)
        old_secret = endpoint.secret
        services.webhook_endpoint_secret_rotate(endpoint=endpoint)
        _ping(endpoint, django_capture_on_commit_callbacks)
        with time_machine.travel(timezone.now() + timedelta(hours=25)):
            _ping(endpoint, django_capture_on_commit_callbacks)
    during, after = receiver.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verify(secret=old_secret, headers=during.headers, body=during.body)
    assert verify(secret=endpoint.secret, headers=during.headers, body=during.body)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    ts = int(after.headers["webhook-timestamp"])
    assert not verify(secret=old_secret, headers=after.headers, body=after.body, now=ts)
    assert verify(secret=endpoint.secret, headers=after.headers, body=after.body, now=ts)


def test_the_target_is_checked_again_at_delivery(settings, monkeypatch, django_capture_on_commit_callbacks):
    """DNS changed since registration: the name now resolves to a private address; nothing is sent."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    connections = []
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["10.0.0.7"])
    monkeypatch.setattr(services.transport, "post", lambda **kw: connections.append(kw))
    endpoint = WebhookEndpointFactory(url="http://hooks.example.com/in")
    delivery = _ping(endpoint, django_capture_on_commit_callbacks)
    assert connections == []
    (attempt,) = WebhookDelivery.objects.get(pk=delivery.pk).attempts.all()
    assert "private" in attempt.error and attempt.status_code is None


def test_the_connection_goes_to_the_vetted_address_with_the_name_as_host(
    monkeypatch, django_capture_on_commit_callbacks
):
    """The name is resolved once; the socket connects to that address and the Host header names the host."""
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        lookups = []

        def resolve_once(host, port):
            lookups.append(host)
            return ["127.0.0.1"]

        monkeypatch.setattr(targets, "resolve", resolve_once)
        endpoint = WebhookEndpointFactory(url=f"http://hooks.example.com:{port}/in")
        _ping(endpoint, django_capture_on_commit_callbacks)
    (message,) = receiver.received
    assert message.headers["host"] == f"hooks.example.com:{port}"
    assert lookups == ["hooks.example.com"]


def test_no_redirect_is_followed(django_capture_on_commit_callbacks):
    with Receiver(statuses=[302]) as receiver:
        endpoint = WebhookEndpointFactory(url=receiver.url)
        delivery = _ping(endpoint, django_capture_on_commit_callbacks)
    assert len(receiver.received) == 1
    (attempt,) = WebhookDelivery.objects.get(pk=delivery.pk).attempts.all()
    assert (attempt.status_code, attempt.succeeded) == (302, False)


def test_a_silent_server_times_out_within_the_total_limit(settings, django_capture_on_commit_callbacks):
    import socket

    settings.WEBHOOK_TOTAL_TIMEOUT_SECONDS = 0.5
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        endpoint = WebhookEndpointFactory(url=f"http://127.0.0.1:{silent.getsockname()[1]}/")
        delivery = _ping(endpoint, django_capture_on_commit_callbacks)
    finally:
        silent.close()
    (attempt,) = WebhookDelivery.objects.get(pk=delivery.pk).attempts.all()
    assert attempt.error == "timed out" and attempt.latency_ms < 2000


def test_an_endpoint_failing_for_days_is_disabled_and_its_operators_told(django_capture_on_commit_callbacks):
    with Receiver(statuses=[500, 500]) as receiver:
        endpoint = WebhookEndpointFactory(url=receiver.url)
        operator = OperatorFactory(organization=endpoint.organization)
        _ping(endpoint, django_capture_on_commit_callbacks)
        endpoint.refresh_from_db()
        assert endpoint.failing_since is not None and endpoint.enabled
        with time_machine.travel(timezone.now() + timedelta(days=6)):
            _ping(endpoint, django_capture_on_commit_callbacks)
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "failed since" in endpoint.disabled_reason
    (note,) = Notification.objects.filter(recipient=operator)
    assert note.kind == NotificationKind.WEBHOOK_DISABLED and endpoint.url in note.body
