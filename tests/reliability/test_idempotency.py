"""Idempotency keys on every POST that creates or acts (Stripe's semantics)."""

import json
import uuid
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
import yaml
from django.conf import settings
from django.db import connection  # noqa: F401  (named by the skipif condition)
from django.utils import timezone

from apikeys.authentication import ApiKeyAuthentication
from pylon.api.authentication import JWTAuthentication
from pylon.idempotency import policy
from pylon.idempotency.models import IdempotencyKey
from pylon.idempotency.services import request_fingerprint
from pylon.idempotency.tasks import purge_idempotency_keys
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import api_key_create, key_client
from tests.reliability.faults import at_once
from tests.test_endpoints import ENDPOINTS
from tests.workloads.test_workload_api import WORKLOADS, submission
from tests.zones.factories import GridZoneFactory
from workloads.models import ComputeWorkload

pytestmark = pytest.mark.django_db


@pytest.fixture
def zone(db):
    return GridZoneFactory()


def _post(client, body, key, path=WORKLOADS):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retry_with_the_same_key_and_body_replays_the_first_response(make_client, user, zone):
    client, body, key = make_client(user), submission(zone), str(uuid.uuid4())
    first = _post(client, body, key)
    assert first.status_code == 201
    assert policy.REPLAYED_HEADER not in first
    again = _post(client, dict(reversed(body.items())), key)  # key order is not a different body
    assert again.status_code == 201
    assert again[policy.REPLAYED_HEADER] == "true"
    assert again.json() == first.json()
    assert ComputeWorkload.objects.count() == 1


def test_the_same_key_with_another_body_is_a_422(make_client, user, zone):
    client, key = make_client(user), str(uuid.uuid4())
    assert _post(client, submission(zone), key).status_code == 201
    other = _post(client, submission(zone, workload_name="Something else"), key)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert ComputeWorkload.objects.count() == 1


def test_the_same_key_on_another_endpoint_is_a_422(make_client, user, zone):
    client, key = make_client(user), str(uuid.uuid4())
    workload = _post(client, submission(zone), key).json()
    cancel = _post(client, {}, key, path=f"{WORKLOADS}{workload['id']}/cancel/")
    assert cancel.status_code == 422
    assert ComputeWorkload.objects.get(pk=workload["id"]).status == "PENDING"


def test_keys_belong_to_the_caller(make_client, user, zone):
    key = str(uuid.uuid4())
    mine = _post(make_client(user), submission(zone), key)
    theirs = _post(make_client(UserFactory(organization=user.organization)), submission(zone), key)
    assert theirs.status_code == 201
    assert policy.REPLAYED_HEADER not in theirs
    assert theirs.json()["id"] != mine.json()["id"]


def test_a_key_still_in_flight_is_a_409(make_client, user, zone):
    body, key = submission(zone), str(uuid.uuid4())
    IdempotencyKey.objects.create(
        user=user,
        key=key,
        method="POST",
        path=WORKLOADS,
        request_fingerprint=request_fingerprint(method="POST", path=WORKLOADS, body=json.dumps(body).encode()),
    )
    response = _post(make_client(user), body, key)
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert response["Retry-After"] == "1"
    assert ComputeWorkload.objects.count() == 0


def test_a_claim_abandoned_by_a_dead_request_is_given_up(make_client, user, zone):
    key = str(uuid.uuid4())
    IdempotencyKey.objects.create(
        user=user,
        key=key,
        method="POST",
        path=WORKLOADS,
        request_fingerprint="0" * 64,
        created_at=timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 1),
    )
    assert _post(make_client(user), submission(zone), key).status_code == 201


def test_a_server_error_is_not_stored_so_a_retry_runs_again(make_client, user, zone):
    client, body, key = make_client(user), submission(zone), str(uuid.uuid4())
    client.raise_request_exception = False
    with mock.patch("workloads.services.workload_create", side_effect=RuntimeError("a bug")):
        assert _post(client, body, key).status_code == 500
    assert not IdempotencyKey.objects.exists()
    retry = _post(client, body, key)
    assert retry.status_code == 201
    assert policy.REPLAYED_HEADER not in retry


def test_a_validation_error_is_not_stored_so_the_corrected_body_runs(make_client, user, zone):
    client, key = make_client(user), str(uuid.uuid4())
    assert _post(client, submission(zone, estimated_energy_kwh="-1"), key).status_code == 400
    assert _post(client, submission(zone), key).status_code == 201


def test_keys_expire_after_the_retention_period(make_client, user, zone):
    client, body, key = make_client(user), submission(zone), str(uuid.uuid4())
    assert _post(client, body, key).status_code == 201
    later = timezone.now() + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS, minutes=1)
    with time_machine.travel(later, tick=False):
        assert purge_idempotency_keys.delay().get() == 1
        body["deadline"] = (later + timedelta(days=1)).isoformat()
        again = _post(make_client(user), body, key)  # a fresh token: the first one has expired
    assert again.status_code == 201
    assert policy.REPLAYED_HEADER not in again
    assert ComputeWorkload.objects.count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve-key", "two words"])
def test_a_malformed_key_is_a_400(make_client, user, zone, key):
    response = _post(make_client(user), submission(zone), key)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [policy.HEADER]
    assert ComputeWorkload.objects.count() == 0


def test_credentials_are_never_stored(api_client, user):
    from tests.accounts.factories import PASSWORD

    response = _post(api_client, {"email": user.email, "password": PASSWORD}, "login-1", path="/api/v1/auth/token/")
    assert response.status_code == 200
    assert not IdempotencyKey.objects.exists()


def test_every_post_that_acts_documents_the_header():
    with open(settings.BASE_DIR / "openapi.yaml") as handle:
        schema = yaml.safe_load(handle)
    for method, path, view in ENDPOINTS:
        if method != "POST":
            continue
        operation = schema["paths"][_template(schema, path)]["post"]
        documented = any(p["in"] == "header" and p["name"] == policy.HEADER for p in operation.get("parameters", []))
        assert documented == policy.applies_to(view, method), f"POST {path}"
        if documented:
            assert {"409", "422"} <= set(operation["responses"])


def _template(schema, concrete: str) -> str:
    import re

    # Literal segments win over parameters: /workloads/batch/ is not /workloads/{id}/.
    for template in sorted(schema["paths"], key=lambda t: t.count("{")):
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), concrete):
            return template
    raise AssertionError(f"{concrete} is not in openapi.yaml")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="needs concurrent transactions; SQLite serialises writers"
)
def test_of_parallel_requests_with_one_key_exactly_one_runs():
    from conftest import client_for

    user, zone = UserFactory(), GridZoneFactory()
    body, key = submission(zone), str(uuid.uuid4())

    def send():
        response = _post(client_for(user), body, key)
        return response.status_code, response.get(policy.REPLAYED_HEADER)

    answers = at_once(6, send)
    assert ComputeWorkload.objects.count() == 1
    assert answers.count((201, None)) == 1  # the one that ran
    assert all(answer in {(409, None), (201, "true")} for answer in answers if answer != (201, None))


@pytest.mark.parametrize("credential", ["jwt", "api_key"])
def test_a_post_with_a_key_authenticates_its_caller_once(
    make_client, user, organization, zone, credential, monkeypatch
):
    """The middleware authenticates the caller (to scope the key); the view reuses that, and the
    answer (who the caller is, what they may do) is the same as without a key."""
    if credential == "jwt":
        client, cls = make_client(user), JWTAuthentication
    else:
        _, secret = api_key_create(organization)
        client, cls = key_client(secret), ApiKeyAuthentication
    calls = []
    authenticate = cls.authenticate
    monkeypatch.setattr(cls, "authenticate", lambda self, request: calls.append(1) or authenticate(self, request))

    first = _post(client, submission(zone), str(uuid.uuid4()))
    assert first.status_code == 201 and len(calls) == 1
    workload = ComputeWorkload.objects.get(pk=first.json()["id"])
    assert workload.organization_id == organization.pk
    calls.clear()
    assert client.post(WORKLOADS, submission(zone), format="json").status_code == 201 and len(calls) == 1


def test_a_bad_credential_with_a_key_is_still_the_views_401(api_client, zone):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = _post(api_client, submission(zone), str(uuid.uuid4()))
    assert response.status_code == 401 and response.json()["code"] == "token_not_valid"
    assert not IdempotencyKey.objects.exists()
