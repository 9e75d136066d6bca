"""API keys for tests, made through the service (the only way one is made), and clients that send them."""

from __future__ import annotations

from apikeys import services
from apikeys.models import ApiKey, ApiKeyScope
from conftest import SchemaCheckingAPIClient
from tests.accounts.factories import OperatorFactory

ALL_SCOPES = list(ApiKeyScope.values)


def api_key_create(organization, scopes=None, **extra) -> tuple[ApiKey, str]:
    if "created_by" not in extra:  # not setdefault: that would make an operator even when one is given
        extra["created_by"] = OperatorFactory(organization=organization)
    return services.api_key_create(
        organization=organization, name=extra.pop("name", "ci-runner"), scopes=scopes or ALL_SCOPES, **extra
    )


def key_client(secret: str, *, header: str = "bearer") -> SchemaCheckingAPIClient:
    client = SchemaCheckingAPIClient()
    if header == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    else:
        client.credentials(HTTP_X_API_KEY=secret)
    return client
