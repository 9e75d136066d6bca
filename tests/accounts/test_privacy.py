"""The UK GDPR requests: a user downloads their data, and deletes their account while their
workloads stay for the organisation's accounting, owned by its anonymous "deleted user"."""

import pytest
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import AuditAction, AuditEntry, User
from conftest import REQUEST_OVERHEAD_QUERIES
from notifications.models import Notification
from pylon.idempotency.models import IdempotencyKey
from tests.accounts.factories import PASSWORD, UserFactory
from tests.notifications.factories import NotificationFactory
from tests.workloads.factories import WorkloadFactory
from workloads import services as workload_services
from workloads.models import ComputeWorkload, WorkloadEvent

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/auth/me/export/"
DELETE = "/api/v1/auth/me/delete/"
USERS = "/api/v1/accounts/users/"


def cancelled_workload(owner):
    workload = WorkloadFactory(user=owner)
    workload_services.workload_cancel(workload=workload, actor=owner)
    return workload


class TestExport:
    def test_holds_the_profile_workloads_events_and_notifications_of_the_caller_only(
        self, make_client, user, organization
    ):
        mine = cancelled_workload(user)
        peer = UserFactory(organization=organization)
        cancelled_workload(peer)
        NotificationFactory(recipient=user, title="For me")
        NotificationFactory(recipient=peer, title="Not for me")
        response = make_client(user).get(EXPORT)
        assert response.status_code == 200
        assert "attachment" in response["Content-Disposition"]
        body = response.json()
        assert body["profile"]["email"] == user.email
        assert [w["id"] for w in body["workloads"]] == [str(mine.pk)]
        assert {(e["workload"], e["action"]) for e in body["events"]} == {
            (str(mine.pk), event.action) for event in mine.events.all()
        }
        assert len(body["events"]) == mine.events.count() >= 1
        assert [n["title"] for n in body["notifications"]] == ["For me"]

    def test_an_operator_gets_their_own_workloads_not_the_organisations(self, make_client, operator, user):
        cancelled_workload(user)
        body = make_client(operator).get(EXPORT).json()
        assert body["workloads"] == []

    def test_makes_a_fixed_number_of_queries(self, make_client, user, django_assert_num_queries):
        client = make_client(user)
        for _ in range(2):
            cancelled_workload(user)
        with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 4) as few:
            client.get(EXPORT)
        for _ in range(4):
            cancelled_workload(user)
            NotificationFactory(recipient=user)
        with django_assert_num_queries(len(few.captured_queries)):
            client.get(EXPORT)


class TestDeletion:
    def test_erases_the_person_and_keeps_the_workloads_anonymised(self, make_client, operator, user, organization):
        workload = cancelled_workload(user)
        NotificationFactory(recipient=user)
        client = make_client(user)
        client.get("/api/v1/notifications/", HTTP_IDEMPOTENCY_KEY="k")  # harmless; keys are POST-only
        response = client.post(DELETE, {"password": PASSWORD})
        assert response.status_code == 204
        assert not User.objects.filter(pk=user.pk).exists()
        assert not User.objects.filter(email=user.email).exists()
        assert not Notification.objects.filter(recipient_id=user.pk).exists()
        assert not IdempotencyKey.objects.filter(user_id=user.pk).exists()
        assert not OutstandingToken.objects.filter(user_id=user.pk).exists()

        workload.refresh_from_db()
        placeholder = workload.user
        assert placeholder.is_placeholder and not placeholder.is_active
        assert placeholder.organization == organization
        assert placeholder.user_name == "Deleted user" and user.email not in placeholder.email
        assert not placeholder.has_usable_password()
        assert workload.organization == organization
        assert set(WorkloadEvent.objects.filter(workload=workload).values_list("actor", flat=True)) == {placeholder.pk}
        # Operators still see the workload, owned by the placeholder, which is not a member.
        seen = make_client(operator).get(f"/api/v1/workloads/{workload.pk}/").json()
        assert seen["owner"]["user_name"] == "Deleted user"
        members = [row["email"] for row in make_client(operator).get(USERS).json()["results"]]
        assert placeholder.email not in members
        entry = AuditEntry.objects.get(action=AuditAction.ACCOUNT_DELETED)
        assert (entry.organization, entry.actor, entry.target) == (organization, None, None)

    def test_one_placeholder_per_organisation(self, make_client, organization):
        first, second = UserFactory.create_batch(2, organization=organization)
        for person in (first, second):
            cancelled_workload(person)
            assert make_client(person).post(DELETE, {"password": PASSWORD}).status_code == 204
        owners = set(ComputeWorkload.objects.values_list("user", flat=True))
        assert len(owners) == 1
        assert User.objects.filter(is_placeholder=True).count() == 1

    def test_the_placeholder_cannot_sign_in_or_reset(self, make_client, api_client, user):
        cancelled_workload(user)
        make_client(user).post(DELETE, {"password": PASSWORD})
        placeholder = User.objects.get(is_placeholder=True)
        assert api_client.post("/api/v1/auth/token/", {"email": placeholder.email, "password": ""}).status_code in (
            400,
            401,
        )
        from accounts.selectors import user_for_password_reset

        assert user_for_password_reset(email=placeholder.email) is None

    def test_a_wrong_password_deletes_nothing(self, make_client, user):
        response = make_client(user).post(DELETE, {"password": "not-it"})
        assert response.status_code == 400
        assert response.json()["fields"]["password"][0]["code"] == "wrong_password"
        assert User.objects.filter(pk=user.pk).exists()

    def test_the_old_tokens_stop_working(self, make_client, user):
        client = make_client(user)
        client.post(DELETE, {"password": PASSWORD})
        assert client.get("/api/v1/auth/me/").status_code == 401
