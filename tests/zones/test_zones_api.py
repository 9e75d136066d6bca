from decimal import Decimal

import pytest

from conftest import REQUEST_OVERHEAD_QUERIES
from tests.zones.factories import GridZoneFactory
from zones.models import GridZone

pytestmark = pytest.mark.django_db

ZONES = "/api/v1/zones/"

VALID_ZONE = {
    "zone_id": "EDI-1",
    "zone_name": "Edinburgh Grid Cluster",
    "grid_zone_code": "UK-SCOTLAND-02",
    "region": "South Scotland",
    "country": "United Kingdom",
    "coordinates": {"lat": "55.95330", "lng": "-3.18830"},
    "carbon_intensity": "35.5",
    "energy_price": "0.2100",
    "neso_region_id": 2,
}


def names(response) -> list[str]:
    return [row["zone_name"] for row in response.json()["results"]]


def test_every_signed_in_role_reads_zones(make_client, user, operator, service_user):
    zone = GridZoneFactory()
    for who in (user, operator, service_user):
        client = make_client(who)
        assert client.get(ZONES).status_code == 200
        body = client.get(f"{ZONES}{zone.id}/").json()
        assert body["coordinates"] == {"lat": 51.5, "lng": -0.12}
        assert body["grid_zone_code"] == zone.grid_zone_code


def test_anonymous_gets_401(api_client):
    assert api_client.get(ZONES).status_code == 401


@pytest.mark.parametrize("who", ["user", "operator"])
def test_only_staff_write_zones(make_client, request, who):
    zone = GridZoneFactory()
    client = make_client(request.getfixturevalue(who))
    assert client.post(ZONES, VALID_ZONE, format="json").status_code == 403
    assert client.patch(f"{ZONES}{zone.id}/", {"zone_name": "Mine"}, format="json").status_code == 403
    assert client.delete(f"{ZONES}{zone.id}/").status_code in (403, 405)
    zone.refresh_from_db()
    assert zone.zone_name != "Mine"
    assert not GridZone.objects.filter(grid_zone_code="UK-SCOTLAND-02").exists()


def test_staff_create_and_change_zones(make_client, service_user):
    client = make_client(service_user)
    response = client.post(ZONES, VALID_ZONE, format="json")
    assert response.status_code == 201, response.json()
    zone = GridZone.objects.get(grid_zone_code="UK-SCOTLAND-02")
    assert zone.latitude == Decimal("55.95330")
    assert zone.figures_updated_at is not None
    stamped = zone.figures_updated_at
    response = client.patch(f"{ZONES}{zone.id}/", {"carbon_intensity": "12"}, format="json")
    assert response.status_code == 200
    zone.refresh_from_db()
    assert zone.carbon_intensity == Decimal("12")
    assert zone.figures_updated_at > stamped


def test_duplicate_code_is_a_400(make_client, service_user):
    GridZoneFactory(grid_zone_code="UK-SCOTLAND-02")
    response = make_client(service_user).post(ZONES, VALID_ZONE, format="json")
    assert response.status_code == 400
    assert "grid_zone_code" in response.json()["fields"]


@pytest.mark.parametrize(
    "change,field",
    [
        ({"coordinates": {"lat": "91", "lng": "0"}}, "coordinates.lat"),
        ({"coordinates": {"lat": "1"}}, "coordinates.lng"),
        ({"carbon_intensity": "-1"}, "carbon_intensity"),
        ({"carbon_intensity": "1e400"}, "carbon_intensity"),
        ({"energy_price": "99999999999"}, "energy_price"),
        ({"neso_region_id": 15}, "neso_region_id"),
        ({"neso_region_id": 10**30}, "neso_region_id"),
        ({"gpu_capacity": -3}, "gpu_capacity"),
        ({"zone_name": "bad\u0000name"}, "zone_name"),
        ({"zone_name": ["a list"]}, "zone_name"),
        ({"figures_updated_at": "2020-01-01T00:00:00Z"}, "figures_updated_at"),
        ({"id": "5a3c1b0e-5d9b-4c43-9d55-7f0b0c0f0f0f"}, "id"),
    ],
)
def test_bad_zone_input_is_a_400_naming_the_field(make_client, service_user, change, field):
    response = make_client(service_user).post(ZONES, {**VALID_ZONE, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert not GridZone.objects.exists()


class TestFiltering:
    @pytest.fixture
    def zones(self, db):
        return [
            GridZoneFactory(
                zone_name="Glasgow Grid Cluster",
                grid_zone_code="UK-SCOTLAND-01",
                region="South Scotland",
                carbon_intensity=Decimal("40"),
                energy_price=Decimal("0.30"),
            ),
            GridZoneFactory(
                zone_name="Cardiff Grid Cluster",
                grid_zone_code="UK-SWALES-01",
                region="South Wales",
                carbon_intensity=Decimal("260"),
                energy_price=Decimal("0.20"),
            ),
            GridZoneFactory(
                zone_name="Oslo Grid Cluster",
                grid_zone_code="NO-OSLO-01",
                region="Oslo",
                country="Norway",
                carbon_intensity=Decimal("25"),
                energy_price=Decimal("0.10"),
                neso_region_id=None,
            ),
        ]

    def test_filter_by_region_and_country(self, make_client, user, zones):
        client = make_client(user)
        assert names(client.get(f"{ZONES}?region=south wales")) == ["Cardiff Grid Cluster"]
        assert names(client.get(f"{ZONES}?country=Norway")) == ["Oslo Grid Cluster"]

    def test_search_by_name_and_code(self, make_client, user, zones):
        client = make_client(user)
        assert names(client.get(f"{ZONES}?search=glasgow")) == ["Glasgow Grid Cluster"]
        assert names(client.get(f"{ZONES}?search=UK-SWALES")) == ["Cardiff Grid Cluster"]

    def test_ordering(self, make_client, user, zones):
        client = make_client(user)
        assert names(client.get(f"{ZONES}?ordering=carbon_intensity"))[0] == "Oslo Grid Cluster"
        assert names(client.get(f"{ZONES}?ordering=-carbon_intensity"))[0] == "Cardiff Grid Cluster"
        assert names(client.get(f"{ZONES}?ordering=energy_price"))[0] == "Oslo Grid Cluster"
        assert names(client.get(f"{ZONES}?ordering=zone_name")) == sorted(z.zone_name for z in zones)

    @pytest.mark.parametrize("ordering", ["password", "zone_name,password", "-secret"])
    def test_unknown_ordering_is_a_400_naming_it(self, make_client, user, zones, ordering):
        response = make_client(user).get(f"{ZONES}?ordering={ordering}")
        assert response.status_code == 400
        assert "Unknown ordering" in response.json()["fields"]["ordering"][0]["message"]

    def test_pagination_is_bounded(self, make_client, user, zones):
        GridZoneFactory.create_batch(120)
        body = make_client(user).get(f"{ZONES}?page_size=100").json()
        assert body["count"] == 123
        assert len(body["results"]) == 100
        assert make_client(user).get(f"{ZONES}?page_size=100000").status_code == 400

    def test_query_count_is_fixed(self, make_client, user, zones, django_assert_num_queries):
        client = make_client(user)
        with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 2):  # count, page
            client.get(ZONES)
        GridZoneFactory.create_batch(40)
        with django_assert_num_queries(REQUEST_OVERHEAD_QUERIES + 2):
            client.get(ZONES)
