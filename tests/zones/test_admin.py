"""The admin of the readings: listed, filtered and searched; never added or edited by hand."""

import pytest
from django.test import Client

from tests.accounts.factories import ServiceUserFactory
from tests.zones.factories import ZoneIntensityReadingFactory, ZonePriceReadingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_():
    client = Client()
    client.force_login(ServiceUserFactory(is_superuser=True))
    return client


@pytest.mark.parametrize("model", ["zoneintensityreading", "zonepricereading"])
def test_readings_are_listed_filtered_and_read_only(admin_client_, model):
    factory = ZoneIntensityReadingFactory if model == "zoneintensityreading" else ZonePriceReadingFactory
    reading = factory(zone__zone_name="Glasgow Grid Cluster")
    base = f"/admin/zones/{model}/"
    listing = admin_client_.get(base, {"q": "glasgow", "source": reading.source})
    assert listing.status_code == 200 and b"Glasgow Grid Cluster" in listing.content
    assert admin_client_.get(f"{base}add/").status_code == 403
    detail = admin_client_.get(f"{base}{reading.pk}/change/")
    assert (
        detail.status_code == 200 and b'name="forecast"' not in detail.content and b'name="price"' not in detail.content
    )
    assert admin_client_.post(f"{base}{reading.pk}/change/", {"forecast": "1"}).status_code == 403


def test_the_zone_admin_filters_by_provider(admin_client_):
    ZoneIntensityReadingFactory(zone__carbon_provider="NESO")
    assert admin_client_.get("/admin/zones/gridzone/", {"carbon_provider__exact": "NESO"}).status_code == 200
