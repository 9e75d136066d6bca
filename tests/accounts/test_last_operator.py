"""An organisation with members keeps an operator: its last active operator cannot delete their
account, be demoted, deactivated or moved away (409 ``last_operator``), whoever asks, the service
role included (it promotes a successor first). A sole member may still delete their account."""

import pytest
from django.db import connection  # noqa: F401  (named by the skipif condition)
from django.test import Client

from accounts import erasure
from accounts.models import AuditEntry, Role, User
from tests.accounts.factories import PASSWORD, OperatorFactory, OrganizationFactory, UserFactory
from tests.accounts.test_admin_membership import admin_change
from tests.reliability.faults import at_once

pytestmark = pytest.mark.django_db

USERS = "/api/v1/accounts/users/"
DELETE = "/api/v1/auth/me/delete/"


def assert_last_operator(response):
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "last_operator"


def test_the_last_operator_cannot_delete_their_account(make_client, operator, user):
    assert_last_operator(make_client(operator).post(DELETE, {"password": PASSWORD}))
    assert User.objects.filter(pk=operator.pk, is_active=True).exists()
    assert not AuditEntry.objects.exists()


def test_an_operator_with_a_fellow_operator_may_delete_their_account(make_client, operator, user, organization):
    OperatorFactory(organization=organization)
    assert make_client(operator).post(DELETE, {"password": PASSWORD}).status_code == 204


def test_a_sole_member_may_delete_their_account(make_client):
    loner = OperatorFactory(organization=OrganizationFactory())
    assert make_client(loner).post(DELETE, {"password": PASSWORD}).status_code == 204


def test_an_inactive_operator_does_not_count(make_client, operator, user, organization):
    OperatorFactory(organization=organization, is_active=False)
    assert_last_operator(make_client(operator).post(DELETE, {"password": PASSWORD}))


def test_the_service_role_cannot_demote_the_last_operator_until_it_promotes_a_successor(
    make_client, service_user, operator, user
):
    client = make_client(service_user)
    assert_last_operator(client.post(f"{USERS}{operator.pk}/role/", {"role": "USER"}))
    operator.refresh_from_db()
    assert operator.role == Role.OPERATOR

    assert client.post(f"{USERS}{user.pk}/role/", {"role": "OPERATOR"}).status_code == 200
    assert client.post(f"{USERS}{operator.pk}/role/", {"role": "USER"}).status_code == 200


def test_the_service_role_cannot_deactivate_the_last_operator(make_client, service_user, operator, user):
    assert_last_operator(make_client(service_user).post(f"{USERS}{operator.pk}/deactivate/"))
    operator.refresh_from_db()
    assert operator.is_active


def test_an_operator_may_still_deactivate_a_fellow_operator(make_client, operator, organization, user):
    fellow = OperatorFactory(organization=organization)
    assert make_client(operator).post(f"{USERS}{fellow.pk}/deactivate/").status_code == 200


def test_the_admin_refuses_to_demote_or_deactivate_the_last_operator(operator, user):
    console = Client()
    console.force_login(User.objects.create_superuser("root@example.com", PASSWORD))
    for change in ({"role": "USER"}, {"is_active": ""}):
        response = admin_change(console, operator, **change)
        assert response.status_code == 200  # the form again, with the error
        assert "last operator" in response.content.decode()
    operator.refresh_from_db()
    assert (operator.role, operator.is_active) == (Role.OPERATOR, True)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="needs concurrent transactions; SQLite serialises writers"
)
def test_two_last_operators_deleting_themselves_at_once_leave_one():
    organization = OrganizationFactory()
    UserFactory(organization=organization)
    pair = OperatorFactory.create_batch(2, organization=organization)

    def delete(person):
        def run():
            try:
                erasure.user_delete(user=User.objects.get(pk=person.pk), password=PASSWORD)
                return "deleted"
            except Exception as exc:  # the loser's refusal
                return getattr(exc, "code", type(exc).__name__)

        return run

    calls = iter([delete(pair[0]), delete(pair[1])])
    answers = at_once(2, lambda: next(calls)())
    assert sorted(answers) == ["deleted", "last_operator"]
    assert User.objects.filter(organization=organization, role=Role.OPERATOR).count() == 1
