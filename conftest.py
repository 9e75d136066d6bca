"""Fixtures shared by every test: API clients signed in as each role, with real JWTs."""

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.api.serializers import add_profile_claims
from tests.accounts.factories import OperatorFactory, OrganizationFactory, ServiceUserFactory, UserFactory
from tests.schema_conformance import check_response

#: Queries every authenticated read (GET) makes: loading the token's user. A read opens no transaction.
REQUEST_OVERHEAD_QUERIES = 1
#: A write also runs in a transaction: its savepoint and release (inside the test's transaction).
WRITE_REQUEST_OVERHEAD_QUERIES = REQUEST_OVERHEAD_QUERIES + 2


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Throttle counters and locks live in the cache (Redis in CI): no test sees another's."""
    cache.clear()
    yield
    cache.clear()


class SchemaCheckingAPIClient(APIClient):
    """An APIClient whose every /api/v1/ response is validated against the OpenAPI schema."""

    def generic(self, method, path, *args, **kwargs):
        response = super().generic(method, path, *args, **kwargs)
        check_response(method, path.split("?")[0], response)
        return response


def client_for(user=None) -> APIClient:
    client = SchemaCheckingAPIClient()
    if user is not None:
        access = add_profile_claims(RefreshToken.for_user(user), user).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


@pytest.fixture
def api_client():
    return SchemaCheckingAPIClient()


@pytest.fixture
def organization(db):
    return OrganizationFactory()


@pytest.fixture
def other_organization(db):
    return OrganizationFactory()


@pytest.fixture
def user(organization):
    return UserFactory(organization=organization)


@pytest.fixture
def operator(organization):
    return OperatorFactory(organization=organization)


@pytest.fixture
def staff_operator(organization):
    """An operator of ``organization`` who may use the admin (staff, in the Operators group)."""
    from accounts.services import operator_grant_admin_access

    return operator_grant_admin_access(user=OperatorFactory(organization=organization))


@pytest.fixture
def operator_console(staff_operator):
    """A Django test client signed in to the admin as ``staff_operator``."""
    client = Client()
    client.force_login(staff_operator)
    return client


@pytest.fixture
def service_user(db):
    return ServiceUserFactory()


@pytest.fixture
def make_client():
    return client_for


@pytest.fixture(autouse=True)
def _relay_unpaused():
    """A test that makes the broker fail must not leave the relay pausing the next test's publishes."""
    from outbox import relay

    relay.reset()
    yield
    relay.reset()
