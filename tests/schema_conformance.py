"""Every API response the tests see is checked against the OpenAPI schema (Zulip's approach):
the schema is what integrators generate SDKs from, so it must describe what the API really does.

The schema is generated in-process (the CI separately checks the committed ``openapi.yaml`` equals it).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema
from drf_spectacular.generators import SchemaGenerator

# Protocol-level answers that are not part of any one operation's contract.
UNDOCUMENTED_OK = {405, 406}


@functools.cache
def _schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


@functools.cache
def _routes() -> list[tuple[re.Pattern[str], str]]:
    routes = []
    # Literal segments win over parameters: /workloads/stats/ is not /workloads/{id}/.
    for template in sorted(_schema()["paths"], key=lambda t: t.count("{")):
        parts = re.split(r"(\{[^}]+\})", template)
        pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
        routes.append((re.compile(f"^{pattern}$"), template))
    return routes


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects → JSON Schema (``nullable`` is the one difference that matters)."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _to_json_schema(value) for key, value in node.items() if key != "nullable"}
    # OpenAPI 3.0's boolean exclusive bounds are JSON Schema's numeric ones.
    for flag, bound in (("exclusiveMaximum", "maximum"), ("exclusiveMinimum", "minimum")):
        if converted.get(flag) is True:
            converted[flag] = converted.pop(bound)
        elif converted.get(flag) is False:
            del converted[flag]
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@functools.cache
def _components() -> dict[str, Any]:
    return {"components": {"schemas": _to_json_schema(_schema()["components"]["schemas"])}}


def check_response(method: str, path: str, response) -> None:
    if not path.startswith("/api/v1/") or response.status_code >= 500:
        return
    template = next((t for pattern, t in _routes() if pattern.match(path)), None)
    if template is None:
        assert response.status_code == 404, f"{path} answered {response.status_code} but is not in the schema"
        return
    operation = _schema()["paths"][template].get(method.lower())
    if operation is None and method.upper() == "OPTIONS":
        assert response.status_code == 200, f"OPTIONS {path} answered {response.status_code}"  # DRF's own
        return
    if operation is None:
        # A method the endpoint does not have: 405 for everyone, before authentication and permissions.
        assert response.status_code == 405, f"{method} {path} answered {response.status_code}"
        return
    documented = operation["responses"].get(str(response.status_code))
    if documented is None:
        assert response.status_code in UNDOCUMENTED_OK, (
            f"{method} {template} answered {response.status_code}, which its schema does not document"
        )
        documented = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    content = documented.get("content")
    if not content:
        assert not response.content, f"{method} {template} {response.status_code} documents no body but sent one"
        return
    media_type = response["Content-Type"].split(";")[0].strip()
    assert media_type in content, f"{method} {template} {response.status_code} sent {media_type}, not {list(content)}"
    if media_type != "application/json":
        return  # a download (CSV): its columns are asserted by its own tests
    body_schema = _to_json_schema(content["application/json"]["schema"])
    validator = jsonschema.Draft202012Validator({**_components(), **body_schema})
    errors = sorted(validator.iter_errors(response.json()), key=lambda e: list(e.path))
    assert not errors, f"{method} {template} {response.status_code} does not match its schema: " + "; ".join(
        f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:5]
    )


def check_component(name: str, body: Any) -> None:
    """``body`` (decoded JSON) is an instance of the schema's component ``name``."""
    validator = jsonschema.Draft202012Validator({**_components(), "$ref": f"#/components/schemas/{name}"})
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"not a {name}: " + "; ".join(
        f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:5]
    )
