"""Issue 10, fault 4: concurrent refreshes of one refresh token mint exactly one new pair."""

import pytest
from django.core.cache import cache
from django.db import connection  # noqa: F401  (named by the skipif condition)
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from tests.accounts.factories import UserFactory
from tests.reliability.faults import at_once

REFRESH = "/api/v1/auth/token/refresh/"
PARALLEL = 6


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="needs concurrent transactions; SQLite serialises writers"
)
def test_of_parallel_refreshes_of_one_token_exactly_one_succeeds():
    for _ in range(3):  # a race that passes once may be luck
        cache.clear()  # the refresh endpoint shares the login throttle
        refresh = str(RefreshToken.for_user(UserFactory()))

        def rotate(refresh=refresh):
            response = APIClient().post(REFRESH, {"refresh": refresh}, format="json")
            return response.status_code, response.json()

        answers = at_once(PARALLEL, rotate)
        assert sorted(status for status, _ in answers) == [200] + [401] * (PARALLEL - 1)
        assert {body["code"] for status, body in answers if status == 401} == {"token_not_valid"}
        assert BlacklistedToken.objects.filter(token__jti=RefreshToken(refresh, verify=False)["jti"]).count() == 1


@pytest.mark.django_db
def test_a_blacklisted_token_cannot_be_logged_out_twice(api_client):
    refresh = str(RefreshToken.for_user(UserFactory()))
    assert api_client.post("/api/v1/auth/logout/", {"refresh": refresh}).status_code == 204
    again = api_client.post("/api/v1/auth/logout/", {"refresh": refresh})
    assert again.status_code == 401
    assert again.json()["code"] == "token_not_valid"
