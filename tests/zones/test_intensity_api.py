"""The carbon-intensity endpoints: a zone's series, the snapshot of every zone, and the GeoJSON map."""

from __future__ import annotations

import numbers
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from conftest import REQUEST_OVERHEAD_QUERIES
from tests.accounts.factories import UserFactory
from tests.workloads.factories import WorkloadFactory
from tests.zones.factories import GridZoneFactory, ZoneIntensityReadingFactory, ZonePriceReadingFactory
from workloads.models import WorkloadStatus

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 15, 12, 10, tzinfo=UTC)
SLOT = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
HALF = timedelta(minutes=30)
SNAPSHOT = "/api/v1/zones/intensity/"
MAP = "/api/v1/zones/map/"


def series_url(zone) -> str:
    return f"/api/v1/zones/{zone.pk}/intensity/"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def zone(db):
    zone = GridZoneFactory(energy_price=Decimal("0.2500"), figures_updated_at=NOW - timedelta(minutes=5))
    for i in range(-48, 96):
        ZoneIntensityReadingFactory(zone=zone, period_start=SLOT + i * HALF, forecast=100 + i, fetched_at=NOW)
    return zone


# -- series ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["user", "operator", "service_user"])
def test_every_role_reads_a_series(make_client, request, who, zone):
    response = make_client(request.getfixturevalue(who)).get(series_url(zone))
    assert response.status_code == 200, response.json()
    body = response.json()
    # default range: 24 hours back to 48 hours ahead
    assert body["start"] == "2026-03-14T12:00:00Z" and body["end"] == "2026-03-17T12:00:00Z"
    assert len(body["results"]) == 48 + 96
    assert body["zone"]["id"] == str(zone.pk) and body["is_stale"] is False


def test_series_content_prefers_actuals_and_price_readings(make_client, user, zone):
    ZoneIntensityReadingFactory(zone=zone, period_start=SLOT, forecast=10, actual=95.5, source="FILE")
    ZonePriceReadingFactory(zone=zone, period_start=SLOT + HALF, price=Decimal("0.4100"))
    body = make_client(user).get(series_url(zone), {"from": "2026-03-15T12:00Z", "to": "2026-03-15T13:00Z"}).json()
    first, second = body["results"]
    assert first["period_start"] == "2026-03-15T12:00:00Z" and first["period_end"] == "2026-03-15T12:30:00Z"
    assert (first["carbon_intensity"], first["forecast"], first["actual"], first["source"]) == (95.5, 10, 95.5, "FILE")
    assert (first["energy_price"], first["price_is_flat"]) == (0.25, True)
    assert (second["carbon_intensity"], second["actual"], second["source"]) == (101, None, "NESO")
    assert (second["energy_price"], second["price_is_flat"]) == (0.41, False)
    assert second["index"] == "moderate"


def test_series_start_is_aligned_and_times_accept_offsets(make_client, user, zone):
    client = make_client(user)
    body = client.get(series_url(zone), {"from": "2026-03-15T12:20:00+00:00", "to": "2026-03-15T13:00Z"}).json()
    assert body["start"] == "2026-03-15T12:00:00Z" and len(body["results"]) == 2
    # a "+" that arrived as a space (an unencoded query string) still reads as an offset
    raw = client.get(series_url(zone) + "?from=2026-03-15T13:00:00+01:00&to=2026-03-15T13:00:00+00:00")
    assert raw.status_code == 200 and raw.json()["start"] == "2026-03-15T12:00:00Z"
    naive = client.get(series_url(zone), {"from": "2026-03-15T12:00:00", "to": "2026-03-15T12:30:00"}).json()
    assert len(naive["results"]) == 1  # no offset: UTC


@pytest.mark.parametrize(
    "params,field",
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00Z"}, "to"),
        ({"from": "2026-03-15T12:00Z", "to": "2026-03-15T12:00Z"}, "to"),
        ({"from": "2026-03-15T12:00Z", "to": "2026-03-15T11:00Z"}, "to"),
        ({"from": "2026-01-01T00:00Z", "to": "2026-02-01T00:30Z"}, "to"),
        ({"from": "0001-01-01T00:00Z"}, "from"),
        ({"to": "9999-12-31T23:59Z"}, "to"),
        ({"from": "2026-03-15T12:00Z\x00"}, "url"),  # refused by the NUL middleware for every URL
        ({"from": "9" * 500}, "from"),
    ],
)
def test_bad_ranges_are_400s_naming_the_parameter(make_client, user, zone, params, field):
    response = make_client(user).get(series_url(zone), params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error" and field in body["fields"]


def test_the_longest_range_is_31_days(make_client, user, zone):
    response = make_client(user).get(series_url(zone), {"from": "2026-03-01T00:00Z", "to": "2026-04-01T00:00Z"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "params,start,end",
    [
        ({"from": "2025-01-01T00:00Z"}, "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"),
        ({"to": "2025-01-01T00:00Z"}, "2024-12-31T23:30:00Z", "2025-01-01T00:00:00Z"),
        ({"to": "2027-01-01T00:00Z"}, "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
    ],
)
def test_one_bound_defaults_the_other_to_a_valid_range(make_client, user, zone, params, start, end):
    body = make_client(user).get(series_url(zone), params).json()
    assert (body["start"], body["end"]) == (start, end)


def test_unknown_zone_is_a_404(make_client, user):
    response = make_client(user).get("/api/v1/zones/5a3c1b0e-5d9b-4c43-9d55-7f0b0c0f0f0f/intensity/")
    assert response.status_code == 404


@pytest.mark.parametrize("readings", [10, 100])
def test_series_query_count_is_fixed(make_client, user, readings, django_assert_num_queries):
    zone = GridZoneFactory()
    for i in range(readings):
        ZoneIntensityReadingFactory(zone=zone, period_start=SLOT - 24 * HALF + i * HALF)
    client = make_client(user)
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 3):  # zone, readings, prices
        client.get(series_url(zone))


# -- snapshot ----------------------------------------------------------------------------------------


def test_snapshot_gives_every_zone_for_one_half_hour(make_client, operator):
    covered = GridZoneFactory(zone_name="A covered", figures_updated_at=NOW)
    bare = GridZoneFactory(zone_name="B bare", figures_updated_at=NOW - timedelta(days=1))
    ZoneIntensityReadingFactory(zone=covered, period_start=SLOT, forecast=120, index="moderate")
    ZoneIntensityReadingFactory(zone=covered, period_start=SLOT + HALF, forecast=999)
    response = make_client(operator).get(SNAPSHOT, {"at": "2026-03-15T12:29:59Z"})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    first, second = body["results"]
    assert first["zone"]["id"] == str(covered.pk)
    assert (first["period_start"], first["carbon_intensity"], first["index"]) == (
        "2026-03-15T12:00:00Z",
        120,
        "moderate",
    )
    assert first["is_stale"] is False
    assert second["zone"]["id"] == str(bare.pk)
    assert (second["carbon_intensity"], second["source"], second["is_stale"]) == (None, None, True)
    assert second["energy_price"] == float(bare.energy_price) and second["price_is_flat"] is True


def test_snapshot_defaults_to_now_and_rejects_bad_times(make_client, user, zone):
    client = make_client(user)
    assert client.get(SNAPSHOT).json()["results"][0]["carbon_intensity"] == 100
    response = client.get(SNAPSHOT, {"at": "soon"})
    assert response.status_code == 400 and "at" in response.json()["fields"]


@pytest.mark.parametrize("zone_count", [2, 10])
def test_snapshot_query_count_is_fixed(make_client, user, zone_count, django_assert_num_queries):
    for zone in GridZoneFactory.create_batch(zone_count):
        ZoneIntensityReadingFactory(zone=zone, period_start=SLOT)
    client = make_client(user)
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 4):  # count, page, readings, prices
        response = client.get(SNAPSHOT)
    assert len(response.json()["results"]) == zone_count


# -- map ---------------------------------------------------------------------------------------------


def assert_geojson_feature_collection(data) -> None:
    """A structural check of RFC 7946: a FeatureCollection of Features with Point geometries."""
    assert isinstance(data, dict) and data["type"] == "FeatureCollection"
    assert "crs" not in data  # removed by RFC 7946 (coordinates are WGS84)
    assert isinstance(data["features"], list)
    for feature in data["features"]:
        assert isinstance(feature, dict) and feature["type"] == "Feature"
        assert "geometry" in feature and "properties" in feature  # both members are required
        assert isinstance(feature.get("id", ""), str | numbers.Number)
        assert feature["properties"] is None or isinstance(feature["properties"], dict)
        geometry = feature["geometry"]
        assert geometry["type"] == "Point"
        position = geometry["coordinates"]
        assert isinstance(position, list) and len(position) in (2, 3)
        assert all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in position)
        longitude, latitude = position[:2]
        assert -180 <= longitude <= 180 and -90 <= latitude <= 90
        for member in ("coordinates", "geometries", "features"):
            assert member not in feature  # reserved members of other GeoJSON types
    for member in ("coordinates", "geometries", "geometry", "properties"):
        assert member not in data


def test_the_map_is_geojson_with_current_figures(make_client, user):
    zone = GridZoneFactory(
        latitude=Decimal("55.86420"),
        longitude=Decimal("-4.25180"),
        carbon_intensity=Decimal("42.5"),
        neso_region_id=2,
        figures_updated_at=NOW - timedelta(minutes=10),
    )
    stale = GridZoneFactory(figures_updated_at=NOW - timedelta(hours=3), neso_region_id=None, carbon_provider="FILE")
    response = make_client(user).get(MAP)
    assert response.status_code == 200
    data = response.json()
    assert_geojson_feature_collection(data)
    assert data["truncated"] is False
    features = {feature["id"]: feature for feature in data["features"]}
    glasgow = features[str(zone.pk)]
    assert glasgow["geometry"] == {"type": "Point", "coordinates": [-4.2518, 55.8642]}  # [lng, lat]
    props = glasgow["properties"]
    assert (props["carbon_intensity"], props["carbon_index"], props["is_stale"]) == (42.5, "low", False)
    assert props["energy_price"] == float(zone.energy_price) and props["grid_zone_code"] == zone.grid_zone_code
    other = features[str(stale.pk)]["properties"]
    assert (other["is_stale"], other["carbon_index"]) == (True, None)  # no GB band outside NESO regions


@pytest.fixture
def placed(organization, other_organization):
    """Workloads in zone A: two of the organisation's (one RUNNING, one of them by `mine`), one elsewhere's."""
    zone_a, zone_b = GridZoneFactory(zone_name="A"), GridZoneFactory(zone_name="B")
    mine = UserFactory(organization=organization)
    colleague = UserFactory(organization=organization)
    stranger = UserFactory(organization=other_organization)
    running = {"status": WorkloadStatus.RUNNING, "chosen_grid_zone": zone_a, "actual_start": NOW - HALF}
    WorkloadFactory(user=mine, **running, estimated_energy_kwh=Decimal("10"))
    WorkloadFactory(user=colleague, status=WorkloadStatus.SCHEDULED, chosen_grid_zone=zone_a)
    WorkloadFactory(user=stranger, **running)
    return {"A": zone_a, "B": zone_b, "mine": mine}


def workloads_by_zone(response) -> dict:
    return {f["properties"]["zone_name"]: f["properties"]["workloads"] for f in response.json()["features"]}


def test_operators_see_their_organisations_figures(make_client, operator, placed):
    figures = workloads_by_zone(make_client(operator).get(MAP))
    assert (figures["A"]["running_count"], figures["A"]["total_count"]) == (1, 2)
    assert figures["B"] == {"running_count": 0, "total_count": 0, "total_energy_kwh": 0, "average_carbon_kg": None}


def test_users_see_only_their_own_figures(make_client, placed):
    figures = workloads_by_zone(make_client(placed["mine"]).get(MAP))
    assert (figures["A"]["running_count"], figures["A"]["total_count"], figures["A"]["total_energy_kwh"]) == (1, 1, 10)


def test_the_service_role_sees_everyones_figures(make_client, service_user, placed):
    figures = workloads_by_zone(make_client(service_user).get(MAP))
    assert (figures["A"]["running_count"], figures["A"]["total_count"]) == (2, 3)


def test_the_map_is_bounded(make_client, user, monkeypatch):
    monkeypatch.setattr("zones.api.views.MAX_MAP_ZONES", 3)
    GridZoneFactory.create_batch(4)
    data = make_client(user).get(MAP).json()
    assert len(data["features"]) == 3 and data["truncated"] is True


@pytest.mark.parametrize("zone_count", [2, 10])
def test_map_query_count_is_fixed(make_client, operator, zone_count, django_assert_num_queries):
    for zone in GridZoneFactory.create_batch(zone_count):
        WorkloadFactory(user=operator, status=WorkloadStatus.SCHEDULED, chosen_grid_zone=zone, host_dc=zone)
    client = make_client(operator)
    with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 2):  # zones, workload figures
        response = client.get(MAP)
    assert len(response.json()["features"]) == zone_count


# -- the zone resource's new fields -------------------------------------------------------------------


def test_zone_shows_provider_band_and_staleness(make_client, user, settings):
    settings.CARBON_DATA_STALE_AFTER_MINUTES = 60
    zone = GridZoneFactory(carbon_intensity=Decimal("200"), figures_updated_at=NOW - timedelta(minutes=61))
    body = make_client(user).get(f"/api/v1/zones/{zone.pk}/").json()
    assert (body["carbon_provider"], body["provider_zone_key"], body["carbon_index"]) == (
        "NESO",
        "",
        "high",
    )  # 2026 bands
    assert body["is_stale"] is True


@pytest.mark.parametrize(
    "change,field",
    [
        ({"carbon_provider": "ELECTRICITY_MAPS"}, "provider_zone_key"),
        ({"carbon_provider": "WATTTIME", "provider_zone_key": "  "}, "provider_zone_key"),
        ({"carbon_provider": "NESO", "neso_region_id": None}, "neso_region_id"),
        ({"carbon_provider": "COAL"}, "carbon_provider"),
    ],
)
def test_a_zone_needs_the_key_of_its_provider(make_client, service_user, change, field):
    zone = {
        "zone_id": "PAR-1",
        "zone_name": "Paris Grid Cluster",
        "grid_zone_code": "FR-PARIS-01",
        "region": "Île-de-France",
        "country": "France",
        "coordinates": {"lat": "48.85660", "lng": "2.35220"},
        "carbon_intensity": "55",
        "energy_price": "0.2100",
        **change,
    }
    response = make_client(service_user).post("/api/v1/zones/", zone, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]


def test_staff_create_an_electricity_maps_zone(make_client, service_user):
    zone = {
        "zone_id": "PAR-1",
        "zone_name": "Paris Grid Cluster",
        "grid_zone_code": "FR-PARIS-01",
        "region": "Île-de-France",
        "country": "France",
        "coordinates": {"lat": "48.85660", "lng": "2.35220"},
        "carbon_intensity": "55",
        "energy_price": "0.2100",
        "carbon_provider": "ELECTRICITY_MAPS",
        "provider_zone_key": "FR",
    }
    response = make_client(service_user).post("/api/v1/zones/", zone, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["carbon_index"] is None
