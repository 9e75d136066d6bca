"""Fixtures of the zones tests: no test reaches a real carbon-intensity API, and retries do not sleep."""

from collections.abc import Iterator

import pytest

from tests.zones.fake_server import FakeHttpServer

#: Nothing listens on the discard port: a provider call a test did not point at a fake server fails fast.
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _offline_carbon_providers(settings):
    settings.NESO_API_BASE_URL = UNREACHABLE
    settings.ELECTRICITYMAPS_API_BASE_URL = UNREACHABLE
    settings.WATTTIME_API_BASE_URL = UNREACHABLE
    settings.CARBON_PROVIDER_TIMEOUT_SECONDS = 2.0
    settings.CARBON_REFRESH_ATTEMPTS = 3
    settings.CARBON_REFRESH_BACKOFF_SECONDS = 0


@pytest.fixture
def fake_server() -> Iterator[FakeHttpServer]:
    with FakeHttpServer() as server:
        yield server


@pytest.fixture
def neso_server(fake_server, settings) -> FakeHttpServer:
    settings.NESO_API_BASE_URL = fake_server.base_url
    return fake_server
