"""The schema says exactly what the server does, so a generated SDK neither loses data nor gets 400s
for requests the schema allows (issue 8's findings from an SDK round trip and a schema fuzz)."""

from __future__ import annotations

import json

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.webhooks.factories import WebhookEndpointFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory

pytestmark = pytest.mark.django_db

WORKLOADS = "/api/v1/workloads/"
# The paginated lists, each with a way to call it.
LISTS = [
    "/api/v1/workloads/",
    "/api/v1/zones/",
    "/api/v1/zones/intensity/",
    "/api/v1/accounts/users/",
    "/api/v1/accounts/organizations/",
    "/api/v1/accounts/audit/",
    "/api/v1/notifications/",
    "/api/v1/scheduling/queue/",
    "/api/v1/workloads/{id}/events/",
    "/api/v1/webhooks/endpoints/",
    "/api/v1/webhooks/endpoints/{endpoint}/deliveries/",
    "/api/v1/api-keys/",
]
# Every operation id, pinned: they are the SDK's method names. Changed deliberately once (issue 8):
# zones_intensity_list → zones_intensity_retrieve, workloads_recommendations_list →
# workloads_recommendations_retrieve, auth_me_update → auth_me_partial_update.
OPERATION_IDS = {
    "accounts_audit_list",
    "accounts_audit_retrieve",
    "accounts_organizations_join_code_rotate",
    "accounts_organizations_list",
    "accounts_organizations_retrieve",
    "accounts_users_deactivate",
    "accounts_users_list",
    "accounts_users_reactivate",
    "accounts_users_role_update",
    "analytics_workloads",
    "analytics_workloads_export",
    "analytics_zones_profile",
    "analytics_zones_utilisation",
    "analytics_zones_overbooked",
    "accounts_users_retrieve",
    "auth_email_confirm",
    "auth_email_confirmation_resend",
    "api_keys_create",
    "api_keys_list",
    "api_keys_retrieve",
    "api_keys_revoke",
    "auth_logout",
    "auth_logout_everywhere",
    "auth_me_delete",
    "auth_me_export",
    "auth_me_partial_update",
    "auth_me_retrieve",
    "auth_password_change",
    "auth_password_reset",
    "auth_password_reset_confirm",
    "auth_register",
    "auth_token_obtain",
    "auth_token_refresh",
    "events_stream",
    "events_stream_tickets_create",
    "healthz",
    "livez",
    "notifications_list",
    "notifications_read",
    "notifications_read_all",
    "scheduling_policy_retrieve",
    "scheduling_policy_update",
    "scheduling_preview",
    "scheduling_queue_list",
    "webhooks_deliveries_redeliver",
    "webhooks_deliveries_retrieve",
    "webhooks_endpoints_create",
    "webhooks_endpoints_deliveries_list",
    "webhooks_endpoints_destroy",
    "webhooks_endpoints_list",
    "webhooks_endpoints_partial_update",
    "webhooks_endpoints_ping",
    "webhooks_endpoints_retrieve",
    "webhooks_endpoints_rotate_secret",
    "workloads_assign",
    "workloads_batch_create",
    "workloads_batch_template",
    "workloads_cancel",
    "workloads_complete",
    "workloads_create",
    "workloads_events_list",
    "workloads_export",
    "workloads_fail",
    "workloads_list",
    "workloads_partial_update",
    "workloads_recommendations_retrieve",
    "workloads_retrieve",
    "workloads_start",
    "workloads_stats",
    "zones_create",
    "zones_intensity_retrieve",
    "zones_intensity_snapshot",
    "zones_list",
    "zones_map",
    "zones_partial_update",
    "zones_retrieve",
}
# Request bodies simplejwt's views parse themselves; they drop unknown keys rather than refuse them.
LENIENT_REQUESTS = {"PylonTokenObtainPairRequest", "PylonTokenRefreshRequest", "RefreshTokenRequest"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def request_components(schema):
    return {name: c for name, c in schema["components"]["schemas"].items() if name.endswith("Request")}


# -- request components ---------------------------------------------------------------------------


def test_no_request_component_carries_a_default(schema):
    """A PATCH default makes a generated client overwrite what the caller did not send; a create default
    makes openapi-typescript require the field. Defaults are said in the description instead."""
    offenders = [
        f"{name}.{field}"
        for name, component in request_components(schema).items()
        for field, spec in component.get("properties", {}).items()
        if "default" in spec
    ]
    assert offenders == []
    create = request_components(schema)["WorkloadInputRequest"]
    assert "Default when omitted: `MEDIUM`" in json.dumps(create["properties"]["urgency"])
    assert "Default when omitted: `0.00`" in create["properties"]["required_gpu_mins"]["description"]
    assert set(create["required"]) == {"workload_name", "host_dc"}
    patched = request_components(schema)["PatchedWorkloadInputRequest"]
    assert "required" not in patched and "Default" not in str(patched)


def test_request_components_that_refuse_unknown_keys_say_so(schema):
    strict = {name: c for name, c in request_components(schema).items() if name not in LENIENT_REQUESTS}
    assert strict and all(c.get("additionalProperties") is False for c in strict.values()), [
        name for name, c in strict.items() if c.get("additionalProperties") is not False
    ]


def test_decimal_body_fields_state_their_precision(schema):
    fields = [
        (name, field, spec)
        for name, component in request_components(schema).items()
        for field, spec in component.get("properties", {}).items()
        if spec.get("type") == "number"
    ]
    assert len(fields) >= 20
    assert all("multipleOf" in spec for _, _, spec in fields), [
        f"{n}.{f}" for n, f, s in fields if "multipleOf" not in s
    ]
    gpu = request_components(schema)["WorkloadInputRequest"]["properties"]["required_gpu_mins"]
    assert gpu["multipleOf"] == 0.01


def test_a_value_at_the_stated_precision_is_accepted_and_a_finer_one_refused(make_client, user):
    zone = GridZoneFactory()
    client = make_client(user)
    body = {"workload_name": "p", "host_dc": str(zone.id)}
    assert client.post(WORKLOADS, {**body, "required_gpu_mins": 0.12}, format="json").status_code == 201
    finer = client.post(WORKLOADS, {**body, "required_gpu_mins": 0.1234567}, format="json")
    assert finer.status_code == 400 and "required_gpu_mins" in finer.json()["fields"]


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("post", WORKLOADS, "workload_name"),
        ("patch", "/api/v1/auth/me/", "user_name"),
        ("post", f"{WORKLOADS}{{id}}/cancel/", "note"),
    ],
)
def test_a_number_for_a_string_field_is_refused(make_client, user, method, path, field):
    workload = WorkloadFactory(user=user)
    body = {"workload_name": "x", "host_dc": str(workload.host_dc_id)} if method == "post" and path == WORKLOADS else {}
    response = getattr(make_client(user), method)(path.format(id=workload.id), {**body, field: 0}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"][field][0]["message"] == "Send a string."
    workload.refresh_from_db()
    assert workload.status == "PENDING" and user.user_name != "0"


# -- query parameters -----------------------------------------------------------------------------


def test_multi_value_filters_take_the_repeated_and_the_comma_form(make_client, user, schema):
    WorkloadFactory.create_batch(3, user=user)
    for status in ("SCHEDULED", "SCHEDULED", "RUNNING"):
        WorkloadFactory(user=user, status=status, chosen_grid_zone=GridZoneFactory())
    client = make_client(user)
    repeated = client.get(f"{WORKLOADS}?status=PENDING&status=SCHEDULED").json()
    comma = client.get(f"{WORKLOADS}?status=PENDING,SCHEDULED").json()
    assert repeated["count"] == comma["count"] == 5
    assert {w["status"] for w in repeated["results"]} == {"PENDING", "SCHEDULED"}
    ordered = client.get(f"{WORKLOADS}?ordering=status&ordering=-submitted_at").json()["results"]
    assert [w["status"] for w in ordered] == sorted(w["status"] for w in ordered)
    arrays = [
        (operation["operationId"], parameter)
        for _, _, operation in operations(schema)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and parameter["schema"].get("type") == "array"
    ]
    assert {p["name"] for _, p in arrays} >= {"status", "urgency", "workload_type", "ordering"}
    assert all(p["explode"] is True for _, p in arrays)


def test_every_ordering_parameter_lists_its_values(make_client, user, schema):
    orderings = {
        operation["operationId"]: parameter["schema"]
        for _, _, operation in operations(schema)
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "ordering"
    }
    assert set(orderings) == {
        "workloads_list",
        "workloads_export",
        "zones_list",
        "accounts_users_list",
        "accounts_organizations_list",
        "accounts_audit_list",
    }
    for spec in orderings.values():
        assert spec["type"] == "array" and "-" + spec["items"]["enum"][-1] in spec["items"]["enum"]
    GridZoneFactory(zone_name="B", carbon_intensity=100)
    GridZoneFactory(zone_name="A", carbon_intensity=100)
    GridZoneFactory(zone_name="C", carbon_intensity=50)
    client = make_client(user)
    names = [
        z["zone_name"]
        for z in client.get("/api/v1/zones/?ordering=carbon_intensity&ordering=zone_name").json()["results"]
    ]
    assert names == ["C", "A", "B"]
    assert client.get("/api/v1/zones/?ordering=secret_field").status_code == 400


@pytest.mark.parametrize("base", ["WritesInTransaction", "ScopedViewSetMixin", "ScopedAPIView", "PublicAPIView"])
def test_no_operation_is_described_by_a_shared_view_base(monkeypatch, base):
    """A view without a docstring gets no description, not a base's (which describes the machinery)."""
    from drf_spectacular.plumbing import get_doc

    from pylon.api import viewsets

    monkeypatch.setattr(getattr(viewsets, base), "__doc__", "The machinery.")
    view = viewsets.PublicAPIView if base == "PublicAPIView" else viewsets.ScopedAPIView
    undocumented = type("Undocumented", (view,), {})
    documented = type("Documented", (view,), {"__doc__": "This endpoint."})
    assert get_doc(undocumented) == ""
    assert get_doc(documented) == "This endpoint."


def test_enum_filters_refer_to_the_named_enums(schema):
    """A generated client gets one type per enum (``WorkloadStatusEnum``), not one per parameter."""
    found = {}
    for _, _, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            spec = parameter["schema"]
            found[operation["operationId"], parameter["name"]] = spec.get("items", spec)
    ref = "#/components/schemas/{}".format
    for operation_id in ("workloads_list", "workloads_export"):
        assert found[operation_id, "status"] == {"$ref": ref("WorkloadStatusEnum")}
        assert found[operation_id, "urgency"] == {"$ref": ref("UrgencyEnum")}
        assert found[operation_id, "workload_type"] == {"$ref": ref("WorkloadTypeEnum")}
    assert found["accounts_users_list", "role"] == {"$ref": ref("UserRoleEnum")}
    assert found["analytics_workloads", "bucket"] == {"$ref": ref("AnalyticsBucketEnum")}
    assert found["analytics_workloads", "group_by"] == {"$ref": ref("AnalyticsGroupByEnum")}
    # Still a list sent repeated: the array and its explode form are the parameter's, not the enum's.
    [status] = [p for p in schema["paths"][WORKLOADS]["get"]["parameters"] if p["name"] == "status"]
    assert (status["schema"]["type"], status["style"], status["explode"]) == ("array", "form", True)
    named = {name for name, component in schema["components"]["schemas"].items() if "enum" in component}
    inline = {
        key: spec["enum"]
        for key, spec in found.items()
        if "enum" in spec and any(set(spec["enum"]) == set(schema["components"]["schemas"][n]["enum"]) for n in named)
    }
    assert inline == {}


def test_boolean_filters_take_only_booleans(make_client, service_user, schema):
    """``?is_active=null`` is a 400 naming the parameter on every list, not a filter quietly dropped."""
    booleans = [
        (path, parameter["name"])
        for path, method, operation in operations(schema)
        for parameter in operation.get("parameters", [])
        if method == "get" and parameter["in"] == "query" and parameter["schema"].get("type") == "boolean"
    ]
    assert ("/api/v1/accounts/users/", "is_active") in booleans
    client = make_client(service_user)
    for path, name in booleans:
        for value in ("null", "maybe", "2", "yes"):
            response = client.get(f"{path}?{name}={value}")
            assert response.status_code == 400, f"{path}?{name}={value} answered {response.status_code}"
            assert list(response.json()["fields"]) == [name]
        for value in ("true", "false", "True", "1", "0"):
            assert client.get(f"{path}?{name}={value}").status_code == 200
    inactive = client.get("/api/v1/accounts/users/?is_active=false&page_size=100").json()["results"]
    assert all(row["is_active"] is False for row in inactive)


@pytest.mark.parametrize("value", ["abc", "-5", "null", "0", "101", ""])
@pytest.mark.parametrize("path", LISTS)
def test_a_bad_page_size_is_a_400_naming_it(make_client, operator, path, value):
    workload = WorkloadFactory(user=operator)
    endpoint = WebhookEndpointFactory(organization=operator.organization)
    response = make_client(operator).get(f"{path.format(id=workload.id, endpoint=endpoint.id)}?page_size={value}")
    assert response.status_code == 400, f"{path}?page_size={value} answered {response.status_code}"
    assert list(response.json()["fields"]) == ["page_size"]


def test_page_size_bounds_are_in_the_schema(schema):
    sizes = [
        parameter["schema"]
        for _, _, operation in operations(schema)
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "page_size"
    ]
    assert len(sizes) == len(LISTS)
    assert all((s["minimum"], s["maximum"]) == (1, 100) for s in sizes)


@pytest.mark.parametrize("parameter", ["submitted_before", "deadline_after", "host_dc", "status"])
def test_an_empty_filter_is_a_400_like_a_malformed_one(make_client, user, parameter):
    client = make_client(user)
    empty = client.get(f"{WORKLOADS}?{parameter}=")
    assert empty.status_code == 400 and parameter in empty.json()["fields"]
    assert client.get(f"{WORKLOADS}?{parameter}=notavalue").status_code == 400
    assert client.get(f"{WORKLOADS}?search=").status_code == 200  # a text search may be empty


@pytest.mark.parametrize("query", ["/api/v1/zones/intensity/?at=", "/api/v1/zones/{id}/intensity/?to="])
def test_an_empty_time_parameter_is_a_400(make_client, user, query):
    zone = GridZoneFactory()
    response = make_client(user).get(query.format(id=zone.pk))
    assert response.status_code == 400
    [problem] = next(iter(response.json()["fields"].values()))
    assert problem["code"] == "blank"


def test_time_parameters_document_their_range(make_client, user, schema):
    """``?at=1999-12-31`` is a 400, so every time parameter's description gives the window."""
    times = [
        (operation["operationId"], parameter)
        for _, _, operation in operations(schema)
        for parameter in operation.get("parameters", [])
        if parameter["schema"].get("format") == "date-time" and parameter["name"] in ("at", "from", "to")
    ]
    assert {operation_id for operation_id, _ in times} >= {
        "zones_intensity_snapshot",
        "zones_intensity_retrieve",
        "analytics_workloads",
    }
    for operation_id, parameter in times:
        assert "2000-01-01" in parameter["description"], (operation_id, parameter["name"])
        assert "2100-01-01" in parameter["description"], (operation_id, parameter["name"])
    client = make_client(user)
    early = client.get("/api/v1/zones/intensity/?at=1999-12-31T23:30Z")
    assert early.status_code == 400 and early.json()["fields"]["at"][0]["code"] == "out_of_range"
    assert client.get("/api/v1/zones/intensity/?at=2000-01-01T00:00Z").status_code == 200


def test_neso_region_id_filter_has_bounds_in_the_schema_and_the_server(make_client, user, schema):
    [spec] = [
        p["schema"] for p in schema["paths"]["/api/v1/zones/"]["get"]["parameters"] if p["name"] == "neso_region_id"
    ]
    assert (spec["type"], spec["minimum"], spec["maximum"]) == ("integer", 1, 14)
    client = make_client(user)
    for bad in ("0", "15", "1.5"):
        assert client.get(f"/api/v1/zones/?neso_region_id={bad}").status_code == 400
    assert client.get("/api/v1/zones/?neso_region_id=14").status_code == 200


# -- honest errors --------------------------------------------------------------------------------


def test_an_over_long_url_is_a_414_in_the_error_shape(make_client, user, settings):
    response = make_client(user).get(f"{WORKLOADS}?search={'x' * settings.MAX_URL_LENGTH}")
    assert response.status_code == 414
    assert response.json()["code"] == "uri_too_long"


def test_every_operation_documents_414_and_every_body_415(schema):
    for path, method, operation in operations(schema):
        assert "414" in operation["responses"], f"{method} {path}"
        if method in ("post", "put", "patch"):
            assert "415" in operation["responses"], f"{method} {path}"


def test_a_body_that_is_not_json_is_a_documented_415(make_client, user):
    response = make_client(user).generic("POST", WORKLOADS, "workload_name=x", content_type="text/plain")
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"


def test_token_expired_is_a_documented_error_code(schema):
    assert "token_expired" in schema["components"]["schemas"]["ErrorCodeEnum"]["enum"]
    assert "token_expired" in schema["paths"]["/api/v1/workloads/"]["get"]["responses"]["401"]["description"]


# -- operation ids and response fields ------------------------------------------------------------


def test_operation_ids_are_the_pinned_sdk_method_names(schema):
    ids = {operation["operationId"] for _, _, operation in operations(schema)}
    assert ids == OPERATION_IDS
    recommendations = schema["paths"]["/api/v1/workloads/{id}/recommendations/"]["get"]
    assert recommendations["tags"] == ["workloads"]
    assert schema["paths"]["/api/v1/auth/me/"]["patch"]["operationId"] == "auth_me_partial_update"


#: Components of ``sparse`` serializers (``pylon.api.schema``): a webhook message's ``data`` holds
#: each field only for the events it applies to (a ping has no workload).
SPARSE_COMPONENTS = {"WebhookMessageData"}


def test_every_response_field_is_required(schema):
    """Serializers write every field they declare; the suite validates each response against this."""
    optional = [
        f"{name}.{field}"
        for name, component in schema["components"]["schemas"].items()
        if not name.endswith("Request") and "properties" in component and name not in SPARSE_COMPONENTS
        for field in component["properties"]
        if field not in component.get("required", [])
    ]
    assert optional == []
    for name in SPARSE_COMPONENTS:
        assert "required" not in schema["components"]["schemas"][name]
