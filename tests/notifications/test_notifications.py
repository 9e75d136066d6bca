"""Notifications are seen by their recipient only; the service writes what other apps send."""

import uuid

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import Notification, NotificationKind
from tests.accounts.factories import UserFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/notifications/"


@pytest.fixture
def inboxes(user, organization):
    neighbour = UserFactory(organization=organization)
    mine = [NotificationFactory(recipient=user) for _ in range(3)]
    NotificationFactory(recipient=user, read_at=timezone.now())
    theirs = NotificationFactory(recipient=neighbour)
    return {"mine": mine, "theirs": theirs, "neighbour": neighbour}


def test_each_user_lists_only_their_own(inboxes, user, make_client):
    body = make_client(user).get(LIST).json()
    assert body["count"] == 4
    assert str(inboxes["theirs"].pk) not in {row["id"] for row in body["results"]}
    assert make_client(inboxes["neighbour"]).get(LIST).json()["count"] == 1


@pytest.mark.parametrize("role", ["operator", "service_user"])
def test_operators_and_the_service_role_do_not_see_others_notifications(inboxes, make_client, role, request):
    caller = request.getfixturevalue(role)
    assert make_client(caller).get(LIST).json()["count"] == 0
    response = make_client(caller).post(f"{LIST}{inboxes['mine'][0].pk}/read/")
    assert response.status_code == 404


def test_unread_filter(inboxes, user, make_client):
    client = make_client(user)
    assert client.get(LIST, {"unread": "true"}).json()["count"] == 3
    assert client.get(LIST, {"unread": "false"}).json()["count"] == 1
    assert client.get(LIST, {"unread": "maybe"}).status_code == 400


def test_mark_one_read(inboxes, user, make_client):
    target = inboxes["mine"][0]
    response = make_client(user).post(f"{LIST}{target.pk}/read/")
    assert response.status_code == 200
    assert response.json()["is_read"] is True
    target.refresh_from_db()
    first = target.read_at
    assert first is not None
    make_client(user).post(f"{LIST}{target.pk}/read/")  # again: unchanged
    target.refresh_from_db()
    assert target.read_at == first


def test_another_users_notification_is_404_and_stays_unread(inboxes, user, make_client):
    theirs = inboxes["theirs"]
    assert make_client(user).post(f"{LIST}{theirs.pk}/read/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert make_client(user).post(f"{LIST}{uuid.uuid4()}/read/").status_code == 404


def test_read_all_marks_only_the_callers(inboxes, user, make_client):
    response = make_client(user).post(f"{LIST}read-all/")
    assert response.status_code == 200 and response.json() == {"marked": 3}
    assert not Notification.objects.filter(recipient=user, read_at__isnull=True).exists()
    inboxes["theirs"].refresh_from_db()
    assert inboxes["theirs"].read_at is None


def test_list_query_count_is_fixed(user, make_client, django_assert_num_queries):
    from conftest import REQUEST_OVERHEAD_QUERIES

    client = make_client(user)
    for n in (3, 30):
        NotificationFactory.create_batch(n - Notification.objects.filter(recipient=user).count(), recipient=user)
        with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 2):  # count and page
            assert client.get(LIST).json()["count"] == n


def test_kinds_cover_the_brief():
    workload_kinds = {"ASSIGNED", "STARTED", "COMPLETED", "FAILED", "UNSCHEDULABLE", "CANCELLED"}
    operator_kinds = {"WEBHOOK_DISABLED", "OVERBOOKED"}  # issue 13, issue 11: operators told
    assert set(NotificationKind.values) == workload_kinds | operator_kinds


class TestTheService:
    def test_create_writes_one_for_the_user(self, user):
        notification = services.notification_create(
            user=user, kind=NotificationKind.FAILED, title="Job failed", body="It stopped."
        )
        stored = Notification.objects.get()
        assert stored.pk == notification.pk
        assert (stored.recipient_id, stored.kind, stored.title, stored.body) == (
            user.pk,
            "FAILED",
            "Job failed",
            "It stopped.",
        )
        assert stored.workload_id is None and stored.read_at is None

    def test_create_many_writes_every_draft(self, user, operator):
        drafts = [
            services.NotificationDraft(recipient_id=recipient.pk, kind=NotificationKind.UNSCHEDULABLE, title=title)
            for recipient, title in ((user, "a"), (operator, "b"), (user, "c"))
        ]
        assert services.notification_create_many(drafts=drafts) == 3
        assert sorted(Notification.objects.filter(recipient=user).values_list("title", flat=True)) == ["a", "c"]
        assert services.notification_create_many(drafts=[]) == 0

    @pytest.mark.parametrize(
        "kind, title", [("NOT_A_KIND", "fine"), (NotificationKind.STARTED, "x" * 201)], ids=["kind", "title"]
    )
    def test_a_wrong_kind_or_overlong_title_is_refused_and_writes_nothing(self, user, kind, title):
        with pytest.raises(ValueError):
            services.notification_create(user=user, kind=kind, title=title)
        draft = services.NotificationDraft(recipient_id=user.pk, kind=kind, title=title)
        with pytest.raises(ValueError):
            services.notification_create_many(drafts=[draft])
        assert not Notification.objects.exists()


def test_a_notification_is_recorded_in_the_event_log_and_forgotten_with_its_recipient(organization):
    """The live stream reads notifications from the event log; erasing the account erases the copies."""
    from accounts.erasure import user_delete
    from notifications import services as notification_services
    from outbox.models import EventType, OutboxEvent
    from tests.accounts.factories import PASSWORD, UserFactory

    person, other = UserFactory(organization=organization), UserFactory(organization=organization)
    mine = notification_services.notification_create(user=person, kind="FAILED", title="JOB-1 failed", body="b")
    theirs = notification_services.notification_create(user=other, kind="FAILED", title="JOB-2 failed")
    event = OutboxEvent.objects.get(type=EventType.NOTIFICATION_CREATED, subject_id=mine.pk)
    assert event.payload["notification"]["recipient"] == str(person.pk)
    assert event.payload["notification"]["title"] == "JOB-1 failed"

    user_delete(user=person, password=PASSWORD)
    assert not OutboxEvent.objects.filter(subject_id=mine.pk).exists()
    assert OutboxEvent.objects.filter(subject_id=theirs.pk).exists()
