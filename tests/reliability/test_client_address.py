"""Issue 10, fault 5: the login throttle keys on the connection's address, not on a forgeable header."""

import pytest

from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"


def _login(client, email, forwarded_for=None, remote_addr="203.0.113.7"):
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post(TOKEN, {"email": email, "password": "wrong"}, **extra).status_code


def test_a_forged_x_forwarded_for_does_not_reset_the_login_throttle(api_client):
    email = UserFactory().email
    statuses = [_login(api_client, email, forwarded_for=f"198.51.100.{i}") for i in range(12)]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]


def test_behind_a_trusted_proxy_the_forwarded_client_is_throttled_on_its_own(api_client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    email = UserFactory().email
    proxy = "10.0.0.2"
    # The proxy appends the address it saw; whatever the client wrote before that is not trusted.
    first = [_login(api_client, email, f"6.6.6.{i}, 192.0.2.1", remote_addr=proxy) for i in range(11)]
    assert first[:10] == [401] * 10 and first[10] == 429
    assert _login(api_client, email, "192.0.2.2", remote_addr=proxy) == 401  # another client, its own budget
