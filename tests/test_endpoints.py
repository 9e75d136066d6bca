"""Checks every API endpoint the same way (NetBox's generic API test cases), so that a new
endpoint cannot skip authentication, documentation or scoping."""

import re
import uuid

import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework.viewsets import GenericViewSet

from pylon.api.viewsets import ScopedViewSetMixin

pytestmark = pytest.mark.django_db

# Endpoints anyone may call; everything else under /api/v1/ needs a token.
PUBLIC = {
    ("POST", "/api/v1/auth/register/"),
    ("POST", "/api/v1/auth/token/"),
    ("POST", "/api/v1/auth/token/refresh/"),
    ("POST", "/api/v1/auth/logout/"),
}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def api_endpoints():
    """(method, concrete path, view class) for every route under /api/v1/."""
    seen = set()
    for route, callback in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or "format" in route:
            continue
        path = re.sub(r"\(\?P<\w+>[^)]*\)|<[\w:]+>", str(uuid.uuid4()), route)
        path = "/" + path.replace("^", "").replace("$", "")
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
            if (method, path) not in seen:
                seen.add((method, path))
                yield method, path, view_class


ENDPOINTS = sorted(api_endpoints(), key=lambda e: (e[1], e[0]))


def test_the_walk_finds_the_api():
    paths = {path for _, path, _ in ENDPOINTS}
    assert "/api/v1/zones/" in paths
    assert "/api/v1/auth/me/" in paths


@pytest.mark.parametrize("method,path,view", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_anonymous_is_refused_with_401(api_client, method, path, view):
    if (method, path) in PUBLIC:
        pytest.skip("public endpoint")
    response = api_client.generic(method, path, data="{}", content_type="application/json")
    assert response.status_code == 401, f"{method} {path} answered {response.status_code} to an anonymous caller"
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("method,path,view", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_every_viewset_is_scoped(method, path, view):
    """Viewsets serve rows; each must decide visibility through a selector, with no bare queryset."""
    if issubclass(view, GenericViewSet):
        assert issubclass(view, ScopedViewSetMixin), f"{view.__name__} must scope its queryset"
    assert getattr(view, "queryset", None) is None, f"{view.__name__} must not carry an unscoped queryset"


def test_overriding_get_queryset_is_refused():
    with pytest.raises(TypeError, match="must not override get_queryset"):

        class Leaky(ScopedViewSetMixin):  # noqa: F841
            def get_queryset(self):
                return None


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
