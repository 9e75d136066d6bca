"""The API docs load nothing from outside the server: no CDN, no web fonts, no online validator."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

# Hosts a docs page or its assets would fetch from (what the sidecar exists to avoid).
FETCHED_FROM = ("cdn.redoc.ly", "fonts.googleapis.com", "fonts.gstatic.com", "unpkg.com", "cdn.jsdelivr.net", "cdnjs")


def body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode("utf-8")


def assets(page: str) -> list[str]:
    """The scripts and stylesheets a page loads (the favicon is an image, not a loader of others)."""
    return [a for a in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page) if a.endswith((".js", ".css"))]


@pytest.mark.parametrize("path", ["/api/redoc/", "/api/docs/"])
def test_a_docs_page_names_no_external_url(client, path):
    response = client.get(path)
    assert response.status_code == 200
    page = body(response)
    assert re.findall(r"(?:https?:)?//[\w.-]+\.\w+", page) == []
    assert assets(page)
    for asset in assets(page):
        assert asset.startswith("/"), asset
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        text = body(fetched)
        assert not [host for host in FETCHED_FROM if host in text], asset
        assert not re.search(r"@import|url\(\s*['\"]?https?:", text), asset


def test_redoc_gets_its_bundle_without_the_remote_logo_and_uses_system_fonts(client):
    page = body(client.get("/api/redoc/"))
    [bundle] = [a for a in assets(page) if a.endswith("redoc.standalone.js")]
    text = body(client.get(bundle))
    assert "Redoc" in text and "data:image/svg+xml" in text and "cdn.redoc.ly" not in text
    assert '"fontFamily": "system-ui' in page


def test_swagger_ui_does_not_call_the_online_validator(client):
    assert '"validatorUrl": null' in body(client.get("/api/docs/"))
