"""A key's principal (the OPERATOR user a key acts as) is no member: not listed, not counted, no
operator for the last-operator rule, and it never signs in with a password."""

import pytest
from django.test import Client

from conftest import client_for
from tests.accounts.factories import PASSWORD, OperatorFactory, UserFactory
from tests.apikeys.factories import api_key_create

pytestmark = pytest.mark.django_db

USERS = "/api/v1/accounts/users/"


@pytest.fixture
def principal(organization, operator):
    key, _ = api_key_create(organization, created_by=operator)
    return key.principal


def _listed(client, query=""):
    body = client.get(f"{USERS}?page_size=100{query}").json()
    return {row["id"] for row in body["results"]}, body["count"]


def test_is_marked_when_created(principal):
    assert principal.is_api_key_principal
    assert not principal.has_usable_password()


def test_is_not_a_listed_or_counted_member(principal, operator, user, service_user):
    for caller in (operator, service_user):
        client = client_for(caller)
        listed, count = _listed(client)
        assert str(principal.pk) not in listed
        assert client.get(f"{USERS}{principal.pk}/").status_code == 404
    assert _listed(client_for(operator)) == ({str(operator.pk), str(user.pk)}, 2)
    assert _listed(client_for(operator), "&role=OPERATOR") == ({str(operator.pk)}, 1)


def test_is_not_in_the_admin_member_list(principal, operator_console):
    page = operator_console.get("/admin/accounts/user/").content.decode()
    assert principal.email not in page
    assert operator_console.get(f"/admin/accounts/user/{principal.pk}/change/").status_code == 302  # not found


def test_does_not_count_as_an_operator_for_the_last_operator_rule(principal, operator, user):
    response = client_for(operator).post("/api/v1/auth/me/delete/", {"password": PASSWORD})
    assert response.status_code == 409
    assert response.json()["code"] == "last_operator"


def test_a_key_does_not_keep_its_creator_from_being_the_last(principal, organization, operator):
    """Alone with a key's principal, the operator is the sole member: they may delete their account."""
    assert client_for(operator).post("/api/v1/auth/me/delete/", {"password": PASSWORD}).status_code == 204


def test_never_signs_in_with_a_password_even_when_one_is_set(principal, api_client):
    principal.set_password(PASSWORD)
    principal.save()
    response = api_client.post("/api/v1/auth/token/", {"email": principal.email, "password": PASSWORD})
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    principal.is_staff = True
    principal.save()
    assert not Client().login(email=principal.email, password=PASSWORD)  # nor into the admin


def test_a_person_still_signs_in(api_client, organization):
    person = UserFactory(organization=organization)
    assert api_client.post("/api/v1/auth/token/", {"email": person.email, "password": PASSWORD}).status_code == 200


def test_is_not_told_a_webhook_was_disabled(principal, operator, organization):
    from notifications.models import Notification
    from webhooks.models import WebhookEndpoint
    from webhooks.services import webhook_endpoint_disable

    fellow = OperatorFactory(organization=organization)
    endpoint = WebhookEndpoint.objects.create(
        organization=organization, url="https://hooks.example.com/pylon", event_types=["ping"], secret="s"
    )
    webhook_endpoint_disable(endpoint=endpoint, reason="Failing for days.")
    assert set(Notification.objects.values_list("recipient", flat=True)) == {operator.pk, fellow.pk}
