"""API keys: managing them, authenticating with them, and what a key may reach."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import User
from apikeys.models import ApiKey
from conftest import client_for
from pylon.api.throttling import PrincipalRateThrottle
from tests.accounts.factories import OperatorFactory, UserFactory
from tests.apikeys.factories import ALL_SCOPES, api_key_create, key_client
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory
from workloads.models import ComputeWorkload, WorkloadEvent

pytestmark = pytest.mark.django_db
KEYS = "/api/v1/api-keys/"
WORKLOADS = "/api/v1/workloads/"


class TestManagingKeys:
    def test_an_operator_creates_a_key_and_sees_its_secret_once(self, operator):
        response = client_for(operator).post(
            KEYS, {"name": "ci-runner", "scopes": ["workloads:read", "workloads:write"]}
        )
        assert response.status_code == 201, response.content
        body = response.json()
        secret = body["key"]
        key = ApiKey.objects.get(pk=body["id"])
        assert secret.startswith(key.prefix) and key.prefix.startswith("pyl_")
        assert (key.organization, key.created_by, key.scopes) == (
            operator.organization,
            operator,
            ["workloads:read", "workloads:write"],
        )
        # Stored only as its hash: no column holds the secret.
        assert all(secret not in str(value) for value in ApiKey.objects.filter(pk=key.pk).values().get().values())
        # Never shown again.
        listed = client_for(operator).get(KEYS).json()["results"]
        assert [row["id"] for row in listed] == [str(key.pk)] and "key" not in listed[0]
        assert "key" not in client_for(operator).get(f"{KEYS}{key.pk}/").json()
        # Its principal: an operator of the organisation who cannot sign in with a password.
        principal = key.principal
        assert (principal.role, principal.organization) == ("OPERATOR", operator.organization)
        assert not principal.is_staff
        assert not principal.has_usable_password()

    def test_users_may_not_manage_keys(self, user):
        assert client_for(user).post(KEYS, {"name": "x", "scopes": ["zones:read"]}).status_code == 403
        assert client_for(user).get(KEYS).status_code == 403
        assert not ApiKey.objects.exists()

    def test_an_operator_cannot_create_one_for_another_organisation(self, operator, other_organization):
        response = client_for(operator).post(
            KEYS, {"name": "x", "scopes": ["zones:read"], "organization": str(other_organization.pk)}
        )
        assert response.status_code == 400 and "organization" in response.json()["fields"]
        assert not ApiKey.objects.exists()

    def test_the_service_role_names_the_organisation(self, service_user, organization):
        client = client_for(service_user)
        assert client.post(KEYS, {"name": "x", "scopes": ["zones:read"]}).status_code == 400
        response = client.post(KEYS, {"name": "x", "scopes": ["zones:read"], "organization": str(organization.pk)})
        assert response.status_code == 201
        assert ApiKey.objects.get().organization == organization

    @pytest.mark.parametrize(
        "body,field",
        [
            ({"name": "x", "scopes": []}, "scopes"),
            ({"name": "x", "scopes": ["admin:all"]}, "scopes.0"),
            ({"name": "x", "scopes": ["zones:read"], "expires_at": "2001-01-01T00:00Z"}, "expires_at"),
            ({"name": "x", "scopes": ["zones:read"], "prefix": "pyl_mine"}, "prefix"),
            ({"scopes": ["zones:read"]}, "name"),
        ],
    )
    def test_bad_input_is_a_400_naming_the_field(self, operator, body, field):
        response = client_for(operator).post(KEYS, body)
        assert response.status_code == 400 and field in response.json()["fields"], response.content
        assert not ApiKey.objects.exists()

    def test_another_organisations_operator_sees_and_revokes_nothing(self, organization, other_organization):
        key, secret = api_key_create(organization)
        stranger = client_for(OperatorFactory(organization=other_organization))
        assert stranger.get(KEYS).json()["results"] == []
        assert stranger.post(f"{KEYS}{key.pk}/revoke/").status_code == 404
        assert key_client(secret).get(WORKLOADS).status_code == 200


class TestAuthenticating:
    @pytest.mark.parametrize("header", ["bearer", "x-api-key"])
    def test_a_key_works_in_either_header_and_stamps_last_used(self, organization, header):
        key, secret = api_key_create(organization)
        assert key_client(secret, header=header).get(WORKLOADS).status_code == 200
        key.refresh_from_db()
        assert key.last_used_at is not None

    def test_last_used_is_written_at_most_once_a_minute(self, organization, django_assert_num_queries):
        key, secret = api_key_create(organization)
        client = key_client(secret)
        with time_machine.travel(timezone.now(), tick=False) as clock:
            client.get("/api/v1/zones/")
            first = ApiKey.objects.get(pk=key.pk).last_used_at
            clock.shift(timedelta(seconds=30))
            client.get("/api/v1/zones/")
            assert ApiKey.objects.get(pk=key.pk).last_used_at == first
            clock.shift(timedelta(seconds=31))
            client.get("/api/v1/zones/")
            assert ApiKey.objects.get(pk=key.pk).last_used_at > first

    def test_a_revoked_key_is_refused_at_once(self, operator):
        key, secret = api_key_create(operator.organization)
        client = key_client(secret)
        assert client.get(WORKLOADS).status_code == 200
        assert client_for(operator).post(f"{KEYS}{key.pk}/revoke/").status_code == 200
        response = client.get(WORKLOADS)
        assert response.status_code == 401 and response.json()["code"] == "api_key_not_valid"
        assert not User.objects.get(pk=key.principal_id).is_active

    def test_an_expired_key_is_refused(self, organization):
        key, secret = api_key_create(organization, expires_at=timezone.now() + timedelta(hours=1))
        assert key_client(secret).get(WORKLOADS).status_code == 200
        with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
            response = key_client(secret).get(WORKLOADS)
        assert response.status_code == 401 and response.json()["code"] == "api_key_expired"

    @pytest.mark.parametrize("mangle", [lambda k: k[:-1] + ("a" if k[-1] != "a" else "b"), lambda k: k[:-2]])
    def test_a_mistyped_or_unknown_key_is_401(self, organization, mangle):
        _, secret = api_key_create(organization)
        response = key_client(mangle(secret)).get(WORKLOADS)
        assert response.status_code == 401 and response.json()["code"] == "api_key_not_valid"
        from apikeys.tokens import key_generate

        assert key_client(key_generate()).get(WORKLOADS).json()["code"] == "api_key_not_valid"

    def test_a_jwt_still_works_beside_keys(self, user):
        assert client_for(user).get(WORKLOADS).status_code == 200


@pytest.fixture
def world(organization, other_organization):
    colleague = UserFactory(organization=organization)
    stranger = UserFactory(organization=other_organization)
    return {
        "colleague": WorkloadFactory(user=colleague),
        "stranger": WorkloadFactory(user=stranger),
    }


class TestWhatAKeyReaches:
    def test_a_key_sees_its_organisation_and_never_beyond(self, organization, world):
        _, secret = api_key_create(organization, scopes=["workloads:read"])
        client = key_client(secret)
        assert {row["id"] for row in client.get(WORKLOADS).json()["results"]} == {str(world["colleague"].pk)}
        assert client.get(f"{WORKLOADS}{world['stranger'].pk}/").status_code == 404
        assert client.get(f"{WORKLOADS}stats/").json()["total"] == 1
        export = client.get(f"{WORKLOADS}export/")
        assert export.status_code == 200
        assert str(world["stranger"].pk) not in b"".join(export.streaming_content).decode()

    def test_what_a_key_submits_is_owned_by_its_principal_and_audited_as_the_key(self, organization):
        key, secret = api_key_create(organization, scopes=["workloads:write"])
        zone = GridZoneFactory()
        response = key_client(secret).post(WORKLOADS, {"workload_name": "Nightly build", "host_dc": str(zone.pk)})
        assert response.status_code == 201, response.content
        workload = ComputeWorkload.objects.get(pk=response.json()["id"])
        assert (workload.user, workload.organization_id) == (key.principal, organization.pk)
        event = WorkloadEvent.objects.get(workload=workload)
        assert event.actor == key.principal and event.actor.api_key == key

    def test_a_write_key_cancels_its_own_workloads_only(self, organization, world):
        key, secret = api_key_create(organization, scopes=["workloads:write"])
        own = WorkloadFactory(user=key.principal)
        client = key_client(secret)
        refused = client.post(f"{WORKLOADS}{world['colleague'].pk}/cancel/", {})
        assert refused.status_code == 403 and "workloads:operate" in refused.json()["message"]
        assert client.post(f"{WORKLOADS}{own.pk}/cancel/", {}).status_code == 200
        world["colleague"].refresh_from_db()
        own.refresh_from_db()
        assert (world["colleague"].status, own.status) == ("PENDING", "CANCELLED")

    @pytest.mark.parametrize("scopes,status", [(["zones:read"], 200), (["workloads:read"], 403)])
    def test_zones_need_their_scope(self, organization, scopes, status):
        _, secret = api_key_create(organization, scopes=scopes)
        assert key_client(secret).get("/api/v1/zones/").status_code == status

    def test_a_key_cannot_manage_keys_or_act_as_the_service_role(self, organization):
        _, secret = api_key_create(organization, scopes=ALL_SCOPES)
        client = key_client(secret)
        assert client.get(KEYS).status_code == 403
        assert client.post(KEYS, {"name": "more", "scopes": ["zones:read"]}).status_code == 403
        assert client.post("/api/v1/zones/", {"zone_name": "Mine"}).status_code == 403
        assert client.get("/api/v1/auth/me/").status_code == 403
        assert client.get("/api/v1/accounts/users/").status_code == 403
        assert ApiKey.objects.count() == 1

    def test_an_idempotency_key_replays_for_an_api_key(self, organization):
        _, secret = api_key_create(organization, scopes=["workloads:write"])
        zone = GridZoneFactory()
        client = key_client(secret)
        body = {"workload_name": "Once", "host_dc": str(zone.pk)}
        first = client.post(WORKLOADS, body, HTTP_IDEMPOTENCY_KEY="8d2c2a0e-4b7f-4f51-9c55-9d1f6a0b6c11")
        again = client.post(WORKLOADS, body, HTTP_IDEMPOTENCY_KEY="8d2c2a0e-4b7f-4f51-9c55-9d1f6a0b6c11")
        assert (first.status_code, again.status_code) == (201, 201)
        assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
        assert ComputeWorkload.objects.count() == 1


class TestKeyRate:
    def test_a_key_has_its_own_rate_and_headers_count_down(self, organization, operator, monkeypatch):
        monkeypatch.setattr(PrincipalRateThrottle, "THROTTLE_RATES", {"api_key": "3/min", "user": "100/min"})
        _, secret = api_key_create(organization, scopes=["zones:read"])
        client = key_client(secret)
        answers = [client.get("/api/v1/zones/") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert {a["RateLimit-Limit"] for a in answers} == {"3"}
        assert 0 < int(answers[-1]["RateLimit-Reset"]) <= 60
        # The key's budget is its own: its operator is counted apart.
        person = client_for(operator).get("/api/v1/zones/")
        assert (person.status_code, person["RateLimit-Limit"], person["RateLimit-Remaining"]) == (200, "100", "99")


def test_a_replayed_answer_does_not_repeat_stale_rate_figures(organization):
    _, secret = api_key_create(organization, scopes=["workloads:write"])
    client = key_client(secret)
    body = {"workload_name": "Once", "host_dc": str(GridZoneFactory().pk)}
    first = client.post(WORKLOADS, body, HTTP_IDEMPOTENCY_KEY="0f7d3a52-6f0e-4c57-a1d4-5b0e2f1c9a77")
    again = client.post(WORKLOADS, body, HTTP_IDEMPOTENCY_KEY="0f7d3a52-6f0e-4c57-a1d4-5b0e2f1c9a77")
    assert first.has_header("RateLimit-Remaining")
    assert again["Idempotent-Replayed"] == "true" and not again.has_header("RateLimit-Remaining")
