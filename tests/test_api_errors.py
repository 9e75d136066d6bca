"""The one error format, and hostile input that must get a 4xx rather than a 500."""

import uuid

import pytest

from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory

pytestmark = pytest.mark.django_db

ERROR_KEYS = {"code", "message", "fields"}


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["code"] == code
    assert body["message"]
    return body


def test_validation_error_shape(make_client, service_user):
    body = assert_error(make_client(service_user).post("/api/v1/zones/", {}, format="json"), 400, "validation_error")
    assert body["fields"]["zone_name"] == [{"code": "required", "message": "This field is required."}]


def test_401_403_404_405_shapes(api_client, make_client, user):
    assert_error(api_client.get("/api/v1/zones/"), 401, "not_authenticated")
    assert_error(make_client(user).get("/api/v1/accounts/users/"), 403, "permission_denied")
    assert_error(make_client(user).get(f"/api/v1/zones/{uuid.uuid4()}/"), 404, "not_found")
    assert_error(make_client(user).delete("/api/v1/auth/me/"), 405, "method_not_allowed")


def test_unknown_api_path_is_a_json_404(make_client, user, settings):
    settings.DEBUG = False
    assert_error(make_client(user).get("/api/v1/no-such-thing/"), 404, "not_found")


def test_malformed_json_is_a_parse_error(make_client, service_user):
    response = make_client(service_user).post("/api/v1/zones/", data="{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_wrong_content_type_is_a_415(make_client, service_user):
    response = make_client(service_user).post("/api/v1/zones/", data="a=b", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_body_that_is_not_an_object_is_a_400(make_client, service_user):
    assert_error(make_client(service_user).post("/api/v1/zones/", [1, 2], format="json"), 400, "validation_error")
    assert_error(make_client(service_user).patch("/api/v1/auth/me/", "text", format="json"), 400, "validation_error")


@pytest.mark.parametrize("body", ["null", "[]", "3", '"cancel"'])
@pytest.mark.parametrize("action", ["cancel", "assign", "start", "complete", "fail"])
def test_an_action_body_that_is_not_an_object_is_a_400_and_changes_nothing(make_client, operator, action, body):
    workload = WorkloadFactory(user=operator)
    response = make_client(operator).post(
        f"/api/v1/workloads/{workload.id}/{action}/", data=body, content_type="application/json"
    )
    problem = assert_error(response, 400, "validation_error")["fields"]["non_field_errors"]
    assert problem == [{"code": "invalid", "message": "The body must be a JSON object."}]
    workload.refresh_from_db()
    assert workload.status == "PENDING"


def test_a_null_body_is_a_400_on_every_json_endpoint(make_client, service_user):
    client = make_client(service_user)
    for method, path in [("post", "/api/v1/zones/"), ("patch", "/api/v1/auth/me/"), ("post", "/api/v1/auth/token/")]:
        response = getattr(client, method)(path, data="null", content_type="application/json")
        assert_error(response, 400, "validation_error")


def test_an_action_may_be_posted_with_no_body(make_client, user):
    workload = WorkloadFactory(user=user)
    response = make_client(user).post(f"/api/v1/workloads/{workload.id}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "CANCELLED"


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "%00", "' OR 1=1 --", "9" * 500])
def test_malformed_ids_in_paths_are_404s(make_client, user, bad_id):
    response = make_client(user).get(f"/api/v1/zones/{bad_id}/")
    assert response.status_code in (400, 404)
    assert set(response.json()) == ERROR_KEYS


@pytest.mark.parametrize(
    "query",
    [
        "search=%00",
        "region=a%00b",
        "ordering=%00",
        "page=%00",
        "page=99999999999999999999999",
        "page=-1",
        "page_size=-5",
        "page_size=99999999999999999999999",
        "neso_region_id=abc",
        "neso_region_id=99999999999999999999999",
        "search=" + "x" * 5000,
    ],
)
def test_hostile_query_strings_are_4xx(make_client, user, query):
    GridZoneFactory()
    response = make_client(user).get(f"/api/v1/zones/?{query}")
    assert 400 <= response.status_code < 500 or response.status_code == 200, response.content
    if response.status_code != 200:
        assert set(response.json()) == ERROR_KEYS


def test_nul_byte_in_query_is_a_400(make_client, user):
    assert_error(make_client(user).get("/api/v1/zones/?search=a%00b"), 400, "validation_error")


def test_nul_byte_in_body_is_a_400(make_client, user):
    body = assert_error(
        make_client(user).patch("/api/v1/auth/me/", {"user_name": "a\x00b"}, format="json"), 400, "validation_error"
    )
    assert "user_name" in body["fields"]


def test_huge_number_in_body_is_a_400(make_client, service_user):
    zone = GridZoneFactory()
    response = make_client(service_user).patch(f"/api/v1/zones/{zone.id}/", {"gpu_capacity": 10**40}, format="json")
    assert_error(response, 400, "validation_error")


def test_wrong_types_in_body_are_400s(api_client):
    response = api_client.post("/api/v1/auth/token/", {"email": {"$ne": 1}, "password": ["x"]}, format="json")
    body = assert_error(response, 400, "validation_error")
    assert {"email", "password"} <= set(body["fields"])


def test_unhandled_exception_is_a_json_500(make_client, user, monkeypatch):
    from zones import selectors

    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "zone_list", explode)
    client = make_client(user)
    client.raise_request_exception = False
    assert_error(client.get("/api/v1/zones/"), 500, "server_error")


def test_deeply_nested_json_is_a_parse_error(make_client, user):
    depth = 100_000
    body = "[" * depth + "]" * depth
    response = make_client(user).post("/api/v1/workloads/", data=body, content_type="application/json")
    assert_error(response, 400, "parse_error")
    nested = '{"user_name": ' + "[" * depth + "]" * depth + "}"
    assert_error(
        make_client(user).patch("/api/v1/auth/me/", data=nested, content_type="application/json"), 400, "parse_error"
    )


def test_oversized_body_is_a_413_in_the_error_format(make_client, user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = '{"workload_name": "' + "x" * 20_000 + '"}'
    response = make_client(user).post("/api/v1/workloads/", data=body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def test_a_service_refusal_keeps_its_reason(make_client, user):
    running = WorkloadFactory(user=user, status="RUNNING", chosen_grid_zone=GridZoneFactory())
    body = assert_error(make_client(user).post(f"/api/v1/workloads/{running.id}/cancel/"), 403, "permission_denied")
    assert body["message"] == "A running workload can only be cancelled by an operator."
