"""Pylon under its ASGI server (uvicorn): requests behave as under the test client, and a body sent
chunked, without Content-Length, is read."""

import http.client
import json

import pytest

from tests.accounts.factories import PASSWORD, UserFactory
from tests.asgi.server import asgi_server

pytestmark = pytest.mark.django_db(transaction=True)


def _post_chunked(port: int, path: str, chunks: list[bytes]) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        # An iterable body and no Content-Length: http.client sends Transfer-Encoding: chunked.
        connection.request(
            "POST", path, body=iter(chunks), headers={"Content-Type": "application/json"}, encode_chunked=True
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def test_a_chunked_body_without_content_length_is_read():
    user = UserFactory()
    body = json.dumps({"email": user.email, "password": PASSWORD}).encode()
    with asgi_server() as port:
        status, answer = _post_chunked(port, "/api/v1/auth/token/", [body[:10], body[10:25], body[25:]])
        empty_status, empty = _post_chunked(port, "/api/v1/auth/token/", [])
    assert status == 200, answer
    assert answer["access"] and answer["refresh"]
    # Nothing sent: the fields are missing (the contrast that proves the chunks above were read).
    assert empty_status == 400 and empty["code"] == "validation_error"


def test_the_api_answers_under_asgi_as_under_the_test_client():
    with asgi_server() as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/api/v1/zones/")
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
    assert response.status == 401 and body["code"] == "not_authenticated"
    assert response.getheader("X-Request-ID")
