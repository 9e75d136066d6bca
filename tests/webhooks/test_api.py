"""The webhooks API: operators manage their organisation's endpoints; the secret is shown once."""

import pytest

from tests.webhooks.factories import WebhookDeliveryFactory, WebhookEndpointFactory
from tests.webhooks.receiver import Receiver
from webhooks import targets
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhooks/endpoints/"


@pytest.fixture(autouse=True)
def _public_dns(monkeypatch):
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["93.184.215.14"])


def test_an_operator_registers_an_endpoint_and_sees_its_secret_once(make_client, operator):
    client = make_client(operator)
    body = {"url": "https://hooks.example.com/pylon", "event_types": ["workload.completed", "ping"]}
    response = client.post(ENDPOINTS, body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert (endpoint.organization_id, endpoint.created_by, endpoint.secret) == (
        operator.organization_id,
        operator,
        created["secret"],
    )
    assert endpoint.event_types == ["ping", "workload.completed"]
    shown = client.get(f"{ENDPOINTS}{endpoint.pk}/").json()
    assert "secret" not in shown and shown["enabled"] is True


@pytest.mark.parametrize(
    "url,status",
    [("https://10.0.0.1/x", 400), ("http://hooks.example.com/x", 400), ("https://[::ffff:127.0.0.1]/", 400)],
)
def test_a_forbidden_url_is_refused_at_registration(make_client, operator, url, status):
    response = make_client(operator).post(ENDPOINTS, {"url": url, "event_types": ["ping"]}, format="json")
    assert response.status_code == status
    assert response.json()["code"] == "webhook_target_refused"
    assert not WebhookEndpoint.objects.exists()


def test_unknown_event_types_and_system_fields_are_refused(make_client, operator):
    client = make_client(operator)
    bad_type = client.post(ENDPOINTS, {"url": "https://h.example.com/", "event_types": ["zone.changed"]}, format="json")
    assert bad_type.status_code == 400
    system = client.post(
        ENDPOINTS, {"url": "https://h.example.com/", "event_types": ["ping"], "secret": "whsec_x"}, format="json"
    )
    assert system.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_a_user_may_not_register_or_list_endpoints(make_client, user):
    client = make_client(user)
    WebhookEndpointFactory(organization=user.organization)
    assert client.get(ENDPOINTS).status_code == 403
    assert (
        client.post(ENDPOINTS, {"url": "https://h.example.com/", "event_types": ["ping"]}, format="json").status_code
        == 403
    )


def test_an_operator_sees_only_their_organisations_endpoints(make_client, operator, other_organization):
    mine = WebhookEndpointFactory(organization=operator.organization)
    theirs = WebhookEndpointFactory(organization=other_organization)
    client = make_client(operator)
    listed = client.get(ENDPOINTS).json()["results"]
    assert [row["id"] for row in listed] == [str(mine.pk)]
    assert client.get(f"{ENDPOINTS}{theirs.pk}/").status_code == 404
    assert client.delete(f"{ENDPOINTS}{theirs.pk}/").status_code == 404
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_change_rotate_and_delete(make_client, operator):
    endpoint = WebhookEndpointFactory(organization=operator.organization, enabled=False, disabled_reason="failing")
    client = make_client(operator)
    changed = client.patch(
        f"{ENDPOINTS}{endpoint.pk}/", {"enabled": True, "event_types": ["workload.failed"]}, format="json"
    )
    assert changed.status_code == 200
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason, endpoint.event_types) == (True, "", ["workload.failed"])
    old = endpoint.secret
    rotated = client.post(f"{ENDPOINTS}{endpoint.pk}/rotate-secret/").json()
    endpoint.refresh_from_db()
    assert rotated["secret"] == endpoint.secret != old and endpoint.previous_secret == old
    assert rotated["secret_rotation_ends_at"] is not None
    assert client.delete(f"{ENDPOINTS}{endpoint.pk}/").status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_ping_deliveries_and_redelivery(
    make_client, operator, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = settings.WEBHOOK_ALLOW_HTTP = True
    monkeypatch.undo()
    client = make_client(operator)
    with Receiver(statuses=[500]) as receiver:
        endpoint = WebhookEndpointFactory(organization=operator.organization, url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            pinged = client.post(f"{ENDPOINTS}{endpoint.pk}/ping/")
        assert pinged.status_code == 202
        deliveries = client.get(f"{ENDPOINTS}{endpoint.pk}/deliveries/").json()["results"]
        assert [d["id"] for d in deliveries] == [pinged.json()["id"]]
        assert [a["status_code"] for a in deliveries[0]["attempts"]] == [500]
        with django_capture_on_commit_callbacks(execute=True):
            again = client.post(f"/api/v1/webhooks/deliveries/{deliveries[0]['id']}/redeliver/")
        assert again.status_code == 202
    assert len(receiver.received) == 2
    shown = client.get(f"/api/v1/webhooks/deliveries/{deliveries[0]['id']}/").json()
    assert shown["status"] == "delivered" and [a["status_code"] for a in shown["attempts"]] == [500, 200]


def test_the_deliveries_list_has_a_fixed_query_count(make_client, operator, django_assert_num_queries):
    from conftest import REQUEST_OVERHEAD_QUERIES

    endpoint = WebhookEndpointFactory(organization=operator.organization)
    client = make_client(operator)

    def count(n):
        for _ in range(n):
            WebhookDeliveryFactory(endpoint=endpoint)
        # the endpoint, the count, the page, its attempts
        with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 4):
            assert client.get(f"{ENDPOINTS}{endpoint.pk}/deliveries/").status_code == 200

    count(2)
    count(4)


def test_the_schema_documents_the_message_with_the_apis_workload():
    """Generated SDKs type ``data.workload`` as the workload the API answers, and only ``id``, ``type``,
    ``created_at`` and ``data`` as always present (a ping has no workload)."""
    from tests.schema_conformance import _schema

    schema = _schema()
    callback = schema["paths"]["/api/v1/webhooks/endpoints/"]["post"]["callbacks"]["message"]
    (operation,) = callback.values()
    body = operation["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/WebhookMessage"}
    components = schema["components"]["schemas"]
    assert components["WebhookMessage"]["required"] == ["created_at", "data", "id", "type"]
    data = components["WebhookMessageData"]
    assert data["properties"]["workload"]["allOf"] == [{"$ref": "#/components/schemas/ComputeWorkload"}]
    assert "required" not in data
    retrieve = schema["paths"]["/api/v1/workloads/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert retrieve["schema"] == {"$ref": "#/components/schemas/ComputeWorkload"}
