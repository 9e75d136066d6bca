"""The account emails go through the outbox: a broker outage delays them, never loses them, and a
redelivered event sends nothing twice. No secret is ever in the event log."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts import tasks
from accounts.models import SentAccountEmail
from outbox import relay
from outbox import services as outbox_services
from outbox.models import EventType, OutboxEvent
from tests.accounts.test_recovery import RESET, link_in
from tests.reliability.faults import broker_at, closed_port

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"


def _register(client, email="outage@example.com"):
    return client.post(REGISTER, {"email": email, "password": "a-long-enough-passphrase-2026"}, format="json")


@pytest.fixture
def broker_down(django_capture_on_commit_callbacks):
    """Requests run with the broker unreachable (a closed port) and their after-commit work run."""

    def run(call):
        with broker_at(f"redis://127.0.0.1:{closed_port()}/0"), django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


def _drain(settings):
    settings.OUTBOX_RELAY_GRACE_SECONDS = 0
    return relay.publish_pending()


def test_a_registration_during_a_broker_outage_is_confirmed_once_the_relay_runs(
    api_client, broker_down, mailoutbox, settings
):
    response = broker_down(lambda: _register(api_client))
    assert response.status_code == 201
    assert mailoutbox == []  # the broker is away: nothing sent yet, but the intent is committed
    (event,) = OutboxEvent.objects.filter(handled_at__isnull=True)
    assert event.type == "account.email_confirmation_requested"

    assert _drain(settings) == 1  # the broker is back (eager in the suite)
    assert [m.to for m in mailoutbox] == [["outage@example.com"]]
    assert _drain(settings) == 0
    assert len(mailoutbox) == 1


def test_a_password_reset_during_a_broker_outage_is_sent_once_the_relay_runs(
    api_client, user, broker_down, mailoutbox, settings
):
    assert broker_down(lambda: api_client.post(RESET, {"email": user.email}, format="json")).status_code == 202
    assert mailoutbox == []
    assert _drain(settings) == 1
    assert [m.to for m in mailoutbox] == [[user.email]]
    assert link_in(mailoutbox[0], settings.PASSWORD_RESET_URL)["token"]


def test_a_redelivered_event_sends_no_second_email(api_client, broker_down, mailoutbox, settings):
    """At least once: the handler may run again for one event (a worker killed before the event was
    marked handled); it sends nothing the second time."""
    broker_down(lambda: _register(api_client))
    (event,) = OutboxEvent.objects.filter(handled_at__isnull=True)
    assert outbox_services.event_handle(event_id=event.pk) == "handled"
    OutboxEvent.objects.filter(pk=event.pk).update(handled_at=None)  # as if the mark were lost
    assert outbox_services.event_handle(event_id=event.pk) == "handled"
    assert len(mailoutbox) == 1


def test_a_failed_send_is_retried_by_the_relay(api_client, broker_down, mailoutbox, settings, monkeypatch):
    from django.core.mail.backends.locmem import EmailBackend

    broker_down(lambda: _register(api_client))
    real_send = EmailBackend.send_messages
    monkeypatch.setattr(EmailBackend, "send_messages", lambda self, messages: (_ for _ in ()).throw(OSError("down")))
    _drain(settings)
    assert mailoutbox == []
    (event,) = OutboxEvent.objects.filter(handled_at__isnull=True)  # still owed
    monkeypatch.setattr(EmailBackend, "send_messages", real_send)
    OutboxEvent.objects.filter(pk=event.pk).update(published_at=None)  # due again (the relay's redelivery)
    assert _drain(settings) == 1
    assert len(mailoutbox) == 1


def test_the_event_log_holds_no_token_nor_address(api_client, user, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post(RESET, {"email": user.email}, format="json")
    token = link_in(mailoutbox[0], settings.PASSWORD_RESET_URL)["token"]
    (event,) = OutboxEvent.objects.filter(type="account.password_reset_requested")
    stored = json.dumps(event.payload)
    assert token not in stored and user.email not in stored
    assert event.subject_id == user.pk and event.handled_at is not None


@pytest.mark.parametrize(
    ("task_name", "subject_word"),
    [
        ("accounts.tasks.send_email_confirmation", "confirm"),
        ("accounts.tasks.send_password_reset_email", "reset"),
    ],
)
def test_a_message_of_the_earlier_release_still_queued_at_deploy_is_emailed_once(
    user, mailoutbox, settings, django_capture_on_commit_callbacks, task_name, subject_word
):
    from pylon.celery import app

    with django_capture_on_commit_callbacks(execute=True):
        assert app.tasks[task_name].apply(kwargs={"user_id": str(user.pk)}).get() is True
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [user.email]
    assert subject_word in mailoutbox[0].subject.lower()
    assert _drain(settings) == 0  # handled once: nothing left for the relay
    assert len(mailoutbox) == 1


def test_a_queued_message_of_the_earlier_release_for_a_deactivated_account_sends_nothing(user, mailoutbox):
    from pylon.celery import app

    user.is_active = False
    user.save(update_fields=["is_active"])
    assert app.tasks["accounts.tasks.send_email_confirmation"].apply(kwargs={"user_id": str(user.pk)}).get() is False
    assert mailoutbox == []
    assert not OutboxEvent.objects.filter(subject_id=user.pk).exists()


def test_records_of_sent_emails_are_pruned_once_old_and_their_event_can_no_longer_be_delivered(user, settings):
    def event(handled: bool):
        row = outbox_services.event_record(type=EventType.ACCOUNT_PASSWORD_RESET_REQUESTED, subject_id=user.pk)
        if handled:
            OutboxEvent.objects.filter(pk=row.pk).update(handled_at=timezone.now())
        return row.pk

    settings.ACCOUNT_EMAIL_RECORD_RETENTION_DAYS = 10
    long_ago = timezone.now() - timedelta(days=11)
    handled, pending, gone, recent = event(True), event(False), 10**9, event(True)
    for event_id, sent_at in [(handled, long_ago), (pending, long_ago), (gone, long_ago), (recent, timezone.now())]:
        SentAccountEmail.objects.create(event_id=event_id, sent_at=sent_at)

    assert tasks.account_emails_prune.apply().get() == 2
    # an unhandled event may be delivered again: its record still stops a second email
    assert set(SentAccountEmail.objects.values_list("event_id", flat=True)) == {pending, recent}


def test_the_prune_runs_daily_on_beat():
    schedule = settings.CELERY_BEAT_SCHEDULE["prune-account-email-records"]
    assert schedule["task"] == "accounts.tasks.account_emails_prune"
    assert schedule["schedule"].hour == {3}
