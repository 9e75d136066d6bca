"""Checks every API endpoint the same way (NetBox's generic API test cases), so that a new
endpoint cannot skip authentication, documentation or scoping."""

import re
import uuid

import pytest
import yaml
from django.forms.models import model_to_dict
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework.permissions import IsAuthenticated
from rest_framework.viewsets import GenericViewSet
from rest_framework_simplejwt import views as jwt_views

from pylon.api.viewsets import PublicAPIView, ScopedAPIView, ScopedViewSetMixin

pytestmark = pytest.mark.django_db

# Endpoints anyone may call; everything else under /api/v1/ needs a token.
PUBLIC = {
    ("POST", "/api/v1/auth/register/"),
    ("POST", "/api/v1/auth/token/"),
    ("POST", "/api/v1/auth/token/refresh/"),
    ("POST", "/api/v1/auth/logout/"),
    ("POST", "/api/v1/auth/password/reset/"),
    ("POST", "/api/v1/auth/password/reset/confirm/"),
    ("POST", "/api/v1/auth/email/confirm/"),
}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def _concrete(route: str) -> str:
    """The route with its ``pk`` parameter as ``{pk}`` and any other parameter as a random id."""
    route = re.sub(r"\(\?P<pk>[^)]*\)|<(?:\w+:)?pk>", "{pk}", route)
    route = re.sub(r"\(\?P<\w+>[^)]*\)|<[\w:]+>", lambda _: str(uuid.uuid4()), route)
    return "/" + route.replace("^", "").replace("$", "")


def api_routes():
    """(method, path with ``{pk}`` where a row is named, view class) for every route under /api/v1/."""
    seen = set()
    for route, callback in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or "format" in route:
            continue
        template = _concrete(route)
        view_class = getattr(callback, "cls", None)
        actions = getattr(callback, "actions", None)
        methods = (
            [m.upper() for m in actions]
            if actions
            else [
                m.upper()
                for m in view_class.http_method_names
                if hasattr(view_class, m) and m not in ("options", "head")
            ]
        )
        for method in methods:
            if (method, template) not in seen:
                seen.add((method, template))
                yield method, template, view_class


ROUTES = sorted(api_routes(), key=lambda e: (e[1], e[0]))
#: Every route with a concrete (random) id: the anonymous, documentation and hostile-input walks.
ENDPOINTS = [(method, template.replace("{pk}", str(uuid.uuid4())), view) for method, template, view in ROUTES]
#: Routes that name one row by its id.
DETAIL_ROUTES = [route for route in ROUTES if "{pk}" in route[1]]


def test_the_walk_finds_the_api():
    paths = {path for _, path, _ in ROUTES}
    assert "/api/v1/zones/" in paths
    assert "/api/v1/auth/me/" in paths
    assert "/api/v1/workloads/{pk}/recommendations/" in paths  # plain APIViews too
    assert "/api/v1/notifications/{pk}/read/" in paths


@pytest.mark.parametrize("method,path,view", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_anonymous_is_refused_with_401(api_client, method, path, view):
    if (method, path) in PUBLIC:
        pytest.skip("public endpoint")
    response = api_client.generic(method, path, data="{}", content_type="application/json")
    assert response.status_code == 401, f"{method} {path} answered {response.status_code} to an anonymous caller"
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("method,path,view", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_every_route_is_scoped(method, path, view):
    """Every route, viewset or not, decides visibility through a selector (``scoped_queryset``) with
    no bare queryset; only the public endpoints are exempt, and they say so by their base class."""
    if (method, path) in PUBLIC:
        assert issubclass(view, (PublicAPIView, jwt_views.TokenViewBase)), f"{view.__name__} is public: say so"
        return
    assert issubclass(view, ScopedViewSetMixin), f"{view.__name__} must derive from a scoped base"
    assert issubclass(view, (GenericViewSet, ScopedAPIView)), view.__name__
    assert getattr(view, "queryset", None) is None, f"{view.__name__} must not carry an unscoped queryset"


@pytest.mark.parametrize("path", sorted({t for _, t, _ in ROUTES}))
def test_options_describes_every_route(make_client, service_user, path):
    """Schemathesis found OPTIONS /scheduling/preview/ a 500 (DRF's metadata wants one serializer)."""
    response = make_client(service_user).options(path.format(pk=uuid.uuid4()))
    assert response.status_code == 200, f"OPTIONS {path} answered {response.status_code}"
    assert "OPTIONS" in response["Allow"]


UNSUPPORTED = [
    (method, template)
    for template in sorted({template for _, template, _ in ROUTES})
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
    if (method, template) not in {(m, t) for m, t, _ in ROUTES}
]


@pytest.mark.parametrize("method,path", UNSUPPORTED, ids=[f"{m} {p}" for m, p in UNSUPPORTED])
def test_a_method_an_endpoint_lacks_is_405_for_every_caller(api_client, service_user, make_client, method, path):
    """Not a 403 (DRF checks permissions first): no role can DELETE /zones/map/, so the role is not why."""
    for client in (api_client, make_client(service_user)):
        response = client.generic(method, path.format(pk=uuid.uuid4()), data="{}", content_type="application/json")
        assert response.status_code == 405, f"{method} {path} answered {response.status_code}"
        assert response.json()["code"] == "method_not_allowed"
        assert method not in response["Allow"] and "OPTIONS" in response["Allow"]


@pytest.mark.parametrize("name", ["get_queryset", "get_object", "get_permissions", "finalize_response"])
@pytest.mark.parametrize("base", [ScopedViewSetMixin, ScopedAPIView])
def test_overriding_the_scoping_is_refused(base, name):
    with pytest.raises(TypeError, match=f"must not override {name}"):
        type("Leaky", (base,), {name: lambda self: None})


def test_a_scoped_api_view_cannot_drop_authentication():
    with pytest.raises(TypeError, match="PublicAPIView"):
        type("Open", (ScopedAPIView,), {"authentication_classes": []})
    from rest_framework.permissions import AllowAny

    view = type("Loose", (ScopedAPIView,), {"permission_classes": [AllowAny]})()
    assert any(isinstance(p, IsAuthenticated) for p in view.get_permissions())


def _foreign_row(model, other_organization):
    """A row of ``model`` that belongs to ``other_organization`` (or to a member of it)."""
    from accounts.models import AuditAction, AuditEntry, Organization
    from apikeys.models import ApiKey
    from notifications.models import Notification
    from tests.accounts.factories import UserFactory
    from tests.apikeys.factories import api_key_create
    from tests.notifications.factories import NotificationFactory
    from tests.webhooks.factories import WebhookDeliveryFactory, WebhookEndpointFactory
    from tests.workloads.factories import WorkloadFactory
    from webhooks.models import WebhookDelivery, WebhookEndpoint
    from workloads.models import ComputeWorkload

    stranger = UserFactory(organization=other_organization)
    factories = {
        Organization: lambda: other_organization,
        AuditEntry: lambda: AuditEntry.objects.create(
            organization=other_organization, actor=stranger, action=AuditAction.JOIN_CODE_ROTATED
        ),
        ComputeWorkload: lambda: WorkloadFactory(user=stranger),
        Notification: lambda: NotificationFactory(recipient=stranger),
        type(stranger): lambda: stranger,
        WebhookEndpoint: lambda: WebhookEndpointFactory(organization=other_organization),
        WebhookDelivery: lambda: WebhookDeliveryFactory(endpoint__organization=other_organization),
        ApiKey: lambda: api_key_create(other_organization)[0],
    }
    assert model in factories, f"add a factory of another organisation's {model.__name__} here"
    return factories[model]()


#: Detail routes of rows every signed-in caller may read (zones are shared by every organisation).
SHARED = {"/api/v1/zones/{pk}/", "/api/v1/zones/{pk}/intensity/", "/api/v1/analytics/zones/{pk}/profile/"}


@pytest.mark.parametrize("method,path,view", DETAIL_ROUTES, ids=[f"{m} {p}" for m, p, _ in DETAIL_ROUTES])
def test_another_organisations_row_is_404_and_unchanged(make_client, operator, other_organization, method, path, view):
    """For every route that names a row: an operator (who sees the most of their own organisation)
    gets 404 for a row of another organisation, and the row is left exactly as it was."""
    if path in SHARED:
        pytest.skip("a shared row: every signed-in caller reads it")
    row = _foreign_row(view.model, other_organization)
    before = model_to_dict(type(row).objects.get(pk=row.pk))
    response = make_client(operator).generic(method, path.format(pk=row.pk), data="{}", content_type="application/json")
    assert response.status_code == 404, f"{method} {path} answered {response.status_code}"
    assert response.json()["code"] == "not_found"
    assert model_to_dict(type(row).objects.get(pk=row.pk)) == before


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_endpoint_is_documented_with_errors_and_an_operation_id(schema):
    operation_ids = []
    for method, path, _ in ENDPOINTS:
        # Literal segments win over parameters: /workloads/stats/ is not /workloads/{id}/.
        candidates = sorted((p for p in schema["paths"] if _matches(p, path)), key=lambda p: p.count("{"))
        template = candidates[0] if candidates else None
        assert template, f"{path} is missing from the schema"
        operation = schema["paths"][template][method.lower()]
        operation_ids.append(operation["operationId"])
        error_codes = {code for code in operation["responses"] if code.startswith(("4", "5"))}
        assert error_codes, f"{method} {path} documents no error response"
        for code in error_codes:
            ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/Error")
        if (method, path) not in PUBLIC:
            assert "401" in error_codes
    assert len(operation_ids) == len(set(operation_ids))


def _matches(template: str, path: str) -> bool:
    a, b = template.strip("/").split("/"), path.strip("/").split("/")
    return len(a) == len(b) and all(x == y or x.startswith("{") for x, y in zip(a, b, strict=True))


def test_committed_openapi_yaml_is_current(schema):
    from django.conf import settings
    from drf_spectacular.renderers import OpenApiYamlRenderer

    committed = (settings.BASE_DIR / "openapi.yaml").read_text()
    generated = OpenApiYamlRenderer().render(schema, renderer_context={}).decode()
    assert yaml.safe_load(committed) == yaml.safe_load(generated), (
        "openapi.yaml is stale: run `make openapi` and commit it"
    )


HOSTILE_BODIES = ["[]", '"text"', "123", "null", '{"a": "\\u0000"}', '{"page": 1e999}', "{", "[[[[[[[[[[]]]]]]]]]]"]
HOSTILE_QUERIES = [
    "page=%00",
    "page=99999999999999999999",
    "page_size=-1",
    "ordering=%00",
    "search=" + "x" * 300,
    "status=%00",
    "from=2023-02-30T00:00:00Z",
    "to=not-a-date",
    "at=99999-01-01",
    "organization=not-a-uuid",
    "unread=maybe",
    "submitted_after=yesterday",
    "host_dc=42",
]


@pytest.mark.parametrize("method,path,view", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_hostile_input_never_500s(make_client, service_user, method, path, view):
    """Every endpoint, with malformed bodies and query strings: a 4xx in the error format (or a 2xx
    where the input is harmless), never a 500."""
    client = make_client(service_user)
    client.raise_request_exception = False
    requests = [(body, "") for body in HOSTILE_BODIES] if method in ("POST", "PUT", "PATCH") else []
    requests += [("{}" if method != "GET" else None, query) for query in HOSTILE_QUERIES]
    for body, query in requests:
        response = client.generic(
            method, f"{path}?{query}" if query else path, data=body or "", content_type="application/json"
        )
        assert response.status_code < 500, f"{method} {path}?{query} body={body!r}: {response.status_code}"
        if response.status_code >= 400:
            assert set(response.json()) == {"code", "message", "fields"}


def _key_routes():
    """(method, path, view, action) for every route: the action is what ``required_scopes`` names."""
    seen = set()
    for route, callback in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or "format" in route:
            continue
        view = callback.cls
        actions = getattr(callback, "actions", None) or {
            m: m for m in view.http_method_names if hasattr(view, m) and m not in ("options", "head")
        }
        for method, action in actions.items():
            if method not in ("options", "head"):
                seen.add((method.upper(), _concrete(route), view, action))
    return sorted(seen, key=lambda e: (e[1], e[0]))


KEY_ROUTES = _key_routes()


@pytest.mark.parametrize("method,path,view,action", KEY_ROUTES, ids=[f"{m} {p}" for m, p, _, _ in KEY_ROUTES])
def test_every_route_declares_the_scope_a_key_needs_or_refuses_keys(organization, method, path, view, action):
    """A new endpoint takes no API key until it names the scope it needs (``required_scopes``): a key
    holding every scope is refused with 403 wherever nothing is declared, and let through where it is."""
    from apikeys.models import ApiKeyScope
    from tests.apikeys.factories import api_key_create, key_client

    if (method, path) in PUBLIC:
        pytest.skip("public endpoint")
    declared = (getattr(view, "required_scopes", None) or {}).get(action)
    assert declared is None or declared in ApiKeyScope.values, f"{view.__name__}.{action}: unknown scope {declared}"
    _, secret = api_key_create(organization)
    response = key_client(secret).generic(
        method, path.format(pk=uuid.uuid4()), data="{}", content_type="application/json"
    )
    refused = response.status_code == 403 and "API key" in response.json()["message"]
    if declared is None:
        assert refused, f"{method} {path} answered {response.status_code} to a key, but declares no scope"
    else:
        assert response.status_code != 401 and not refused, f"{method} {path}: {response.status_code}"
