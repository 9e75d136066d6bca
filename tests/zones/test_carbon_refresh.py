"""The carbon-intensity refresh (service, Celery task, command) against a local fake NESO server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock
from uuid import UUID

import pytest
import time_machine
from celery.exceptions import Retry
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection

from outbox import registry
from outbox.models import EventType, OutboxEvent
from tests.zones.carbon_fixtures import load_json
from tests.zones.factories import GridZoneFactory
from tests.zones.fake_server import Scripted
from zones import refresh as refresh_module
from zones import selectors, services
from zones.models import CarbonSource, GridZone, ZoneIntensityReading
from zones.tasks import refresh_carbon_intensity

pytestmark = pytest.mark.django_db

NOW = datetime(2023, 3, 14, 3, 10, tzinfo=UTC)  # inside the first period of neso_regional_fw48h.json
REGIONAL = "/regional/intensity/"
FIRST_FORECASTS = {1: 0, 2: 9, 3: 20, 4: 3, 5: 107, 6: 38, 7: 122, 8: 47, 9: 122, 10: 65, 11: 233, 12: 140, 13: 86}
FIRST_FORECASTS[14] = 102


def regional(without: set[int] = frozenset()) -> Scripted:
    payload = load_json("neso_regional_fw48h.json")
    for period in payload["data"]:
        period["regions"] = [r for r in period["regions"] if r["regionid"] not in without]
    return Scripted(json_body=payload)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def zones(db):
    return [
        GridZoneFactory(neso_region_id=region, grid_zone_code=f"UK-R{region:02d}", carbon_intensity=Decimal("500"))
        for region in range(1, 15)
    ]


def refresh(**kwargs) -> refresh_module.ProviderRefresh:
    summary = refresh_module.carbon_refresh(provider=CarbonSource.NESO, **kwargs)
    assert len(summary.providers) == 1
    return summary.providers[0]


def test_one_call_fetches_every_zone_upserts_and_updates_current_figures(
    neso_server, zones, clock, django_capture_on_commit_callbacks, monkeypatch
):
    neso_server.enqueue(REGIONAL, regional())
    received = []

    def receiver(event):
        received.append({UUID(pk) for pk in event.payload["zone_ids"]})

    monkeypatch.setattr(registry, "_handlers", {EventType.ZONE_FORECASTS_UPDATED: {"test": receiver}})
    with django_capture_on_commit_callbacks(execute=True):
        result = refresh()
        assert received == []  # not before the commit
        assert OutboxEvent.objects.filter(type=EventType.ZONE_FORECASTS_UPDATED).count() == 1

    assert result.status == "ok" and result.errors == {}
    # Asked from the half hour before now, so that the current period is surely in the answer.
    assert [r.path for r in neso_server.requests] == ["/regional/intensity/2023-03-14T02:30Z/fw48h"]
    assert "content-type" not in neso_server.requests[0].headers  # NESO answers 400 to it
    assert (result.readings, result.inserted, result.zones_updated) == (14 * 3, 14 * 3, 14)
    assert ZoneIntensityReading.objects.count() == 42
    for zone in GridZone.objects.all():
        assert zone.carbon_intensity == FIRST_FORECASTS[zone.neso_region_id]
        assert zone.figures_updated_at == ZoneIntensityReading.objects.filter(zone=zone).first().fetched_at
        assert not selectors.zone_is_stale(zone=zone)
    north = ZoneIntensityReading.objects.filter(zone__neso_region_id=1).order_by("period_start").first()
    assert (north.forecast, north.actual, north.index, north.source) == (0.0, None, "very low", "NESO")
    assert north.generation_mix["wind"] > 80
    assert received == [{zone.pk for zone in zones}]  # recorded once, handled after commit


def test_refresh_is_idempotent(neso_server, zones, clock):
    neso_server.repeat(REGIONAL, regional())
    first, second = refresh(), refresh()
    assert (first.inserted, first.updated, first.unchanged) == (42, 0, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 42)
    assert ZoneIntensityReading.objects.count() == 42


def test_a_newer_fetch_updates_the_row(neso_server, zones, clock):
    neso_server.enqueue(REGIONAL, regional())
    refresh()
    newer = load_json("neso_regional_fw48h.json")
    newer["data"][0]["regions"][12]["intensity"]["forecast"] = 91  # London, 03:00
    neso_server.enqueue(REGIONAL, Scripted(json_body=newer))
    result = refresh()
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 41)
    london = GridZone.objects.get(neso_region_id=13)
    assert london.carbon_intensity == Decimal("91")
    assert ZoneIntensityReading.objects.filter(zone=london).count() == 3


def test_500_then_success_is_retried(neso_server, zones, clock):
    neso_server.enqueue(REGIONAL, Scripted(status=500, json_body={"error": {"code": "500", "message": "boom"}}))
    neso_server.enqueue(REGIONAL, regional())
    result = refresh()
    assert result.status == "ok" and result.attempts == 2
    assert len(neso_server.requests) == 2


def test_empty_body_is_transient_and_retried(neso_server, zones, clock):
    neso_server.enqueue(REGIONAL, Scripted(json_body={}), Scripted(json_body={}), regional())
    result = refresh()
    assert result.status == "ok" and result.attempts == 3


def test_timeout_is_transient_and_retried(neso_server, zones, clock, settings):
    settings.CARBON_PROVIDER_TIMEOUT_SECONDS = 0.3
    neso_server.enqueue(REGIONAL, Scripted(delay=2.0), regional())
    result = refresh()
    assert result.status == "ok" and result.attempts == 2


def test_backoff_is_exponential_and_bounded(neso_server, zones, clock, settings):
    settings.CARBON_REFRESH_ATTEMPTS = 4
    settings.CARBON_REFRESH_BACKOFF_SECONDS = 0.5
    neso_server.repeat(REGIONAL, Scripted(status=503))
    sleeps = []
    result = refresh(sleep=sleeps.append)
    assert sleeps == [0.5, 1.0, 2.0]
    assert result.status == "failed" and result.transient and result.attempts == 4
    assert len(neso_server.requests) == 4


def test_unknown_region_is_reported_and_does_not_block_the_others(neso_server, zones, clock):
    neso_server.repeat(REGIONAL, regional(without={14}))
    result = refresh()
    assert result.status == "partial" and not result.transient
    assert set(result.errors) == {"UK-R14"} and "unknown region" in result.errors["UK-R14"]
    assert result.zones_updated == 13
    assert not ZoneIntensityReading.objects.filter(zone__neso_region_id=14).exists()
    assert ZoneIntensityReading.objects.count() == 13 * 3
    # one call for all, then one per region once the batch failed permanently
    assert len(neso_server.requests) == 1 + 14


def test_a_zone_without_a_key_is_reported(neso_server, zones, clock):
    GridZone.objects.filter(neso_region_id=14).update(neso_region_id=None)
    neso_server.enqueue(REGIONAL, regional())
    result = refresh()
    assert result.status == "partial" and result.errors == {"UK-R14": "the zone has no key at its provider"}


def test_when_every_attempt_fails_the_old_data_stays_and_zones_go_stale(neso_server, zones, clock):
    neso_server.enqueue(REGIONAL, regional())
    refresh()
    before = {z.pk: (z.carbon_intensity, z.figures_updated_at) for z in GridZone.objects.all()}
    clock.shift(timedelta(hours=2))
    neso_server.repeat(REGIONAL, Scripted(status=500))
    result = refresh()
    assert result.status == "failed" and result.transient and result.errors.keys() == {"*"}
    assert ZoneIntensityReading.objects.count() == 42
    after = {z.pk: (z.carbon_intensity, z.figures_updated_at) for z in GridZone.objects.all()}
    assert after == before
    assert all(selectors.zone_is_stale(zone=zone) for zone in GridZone.objects.all())


def test_a_held_lock_skips_the_second_refresh(neso_server, zones, clock):
    assert cache.add("zones:carbon-refresh:NESO", "another worker", timeout=60)
    result = refresh()
    assert result.status == "locked"
    assert neso_server.requests == []
    assert cache.get("zones:carbon-refresh:NESO") == "another worker"  # not released by the skipped run


def test_the_lock_is_released_after_a_refresh_even_a_failed_one(neso_server, zones, clock):
    neso_server.repeat(REGIONAL, Scripted(status=500))
    refresh()
    assert cache.get("zones:carbon-refresh:NESO") is None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_refreshes_at_once_fetch_once_and_never_duplicate(neso_server, zones, clock):
    neso_server.enqueue(REGIONAL, Scripted(json_body=load_json("neso_regional_fw48h.json"), delay=0.5))
    neso_server.repeat(REGIONAL, regional())
    results = []

    def run():
        try:
            results.append(refresh())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(r.status for r in results) == ["locked", "ok"]
    assert len(neso_server.requests) == 1
    assert ZoneIntensityReading.objects.count() == 42


def test_an_overlapping_run_without_the_lock_is_harmless(neso_server, zones, clock):
    """If the lock expired mid-run, a second run upserts the same keys: no duplicates, same figures."""
    neso_server.repeat(REGIONAL, regional())
    with mock.patch("zones.refresh.cache.add", return_value=True):
        refresh()
        refresh()
    assert ZoneIntensityReading.objects.count() == 42


def test_other_providers_zones_are_left_alone(neso_server, zones, clock):
    file_zone = GridZoneFactory(carbon_provider=CarbonSource.FILE, neso_region_id=None)
    neso_server.enqueue(REGIONAL, regional())
    summary = refresh_module.carbon_refresh()
    assert [p.provider for p in summary.providers] == ["NESO"]
    assert not ZoneIntensityReading.objects.filter(zone=file_zone).exists()


class TestOtherProviders:
    def test_electricity_maps_zone(self, fake_server, settings):
        settings.ELECTRICITYMAPS_API_BASE_URL = fake_server.base_url
        settings.ELECTRICITYMAPS_API_TOKEN = "em-token"
        zone = GridZoneFactory(
            carbon_provider=CarbonSource.ELECTRICITY_MAPS, provider_zone_key="ES", neso_region_id=None
        )
        fake_server.enqueue(
            "/v3/carbon-intensity/forecast", Scripted(json_body=load_json("electricitymaps_forecast_ES.json"))
        )
        with time_machine.travel(datetime(2022, 1, 2, 0, 5, tzinfo=UTC), tick=True):
            result = refresh_module.carbon_refresh(provider=CarbonSource.ELECTRICITY_MAPS).providers[0]
        assert result.status == "ok"
        assert fake_server.requests[0].headers["auth-token"] == "em-token"
        assert fake_server.requests[0].query["zone"] == ["ES"]
        assert ZoneIntensityReading.objects.filter(zone=zone, source="ELECTRICITY_MAPS").count() == 48
        zone.refresh_from_db()
        assert zone.carbon_intensity == Decimal("131")

    def test_watttime_zone(self, fake_server, settings):
        settings.WATTTIME_API_BASE_URL = fake_server.base_url
        settings.WATTTIME_USERNAME, settings.WATTTIME_PASSWORD = "pylon", "secret"
        zone = GridZoneFactory(
            carbon_provider=CarbonSource.WATTTIME, provider_zone_key="CAISO_NORTH", neso_region_id=None
        )
        fake_server.enqueue("/login", Scripted(json_body=load_json("watttime_login.json")))
        fake_server.enqueue("/v3/forecast", Scripted(json_body=load_json("watttime_forecast_CAISO_NORTH.json")))
        with time_machine.travel(datetime(2023, 8, 3, 17, 35, tzinfo=UTC), tick=True):
            result = refresh_module.carbon_refresh(provider=CarbonSource.WATTTIME).providers[0]
        assert result.status == "ok"
        readings = ZoneIntensityReading.objects.filter(zone=zone, source="WATTTIME")
        assert readings.exists() and all(r.index == "" for r in readings)

    def test_missing_token_fails_the_zone_permanently(self, settings):
        settings.ELECTRICITYMAPS_API_TOKEN = ""
        GridZoneFactory(carbon_provider=CarbonSource.ELECTRICITY_MAPS, provider_zone_key="FR", neso_region_id=None)
        result = refresh_module.carbon_refresh(provider=CarbonSource.ELECTRICITY_MAPS).providers[0]
        assert result.status == "failed" and not result.transient
        assert "no API token" in next(iter(result.errors.values()))


class TestTask:
    def test_eager_task_returns_the_summary(self, neso_server, zones, clock):
        neso_server.enqueue(REGIONAL, regional())
        summary = refresh_carbon_intensity.delay().get()
        assert summary["providers"][0]["status"] == "ok"
        assert summary["providers"][0]["inserted"] == 42

    def test_eager_task_gives_up_without_celery_retry(self, neso_server, zones, clock):
        neso_server.repeat(REGIONAL, Scripted(status=502))
        summary = refresh_carbon_intensity.delay(provider="NESO").get()
        assert summary["providers"][0]["status"] == "failed"
        assert len(neso_server.requests) == 3  # the service's bounded in-process attempts only

    def test_with_a_broker_a_transient_failure_is_retried_by_celery_with_backoff(self, neso_server, zones, clock):
        neso_server.repeat(REGIONAL, Scripted(status=502))
        refresh_carbon_intensity.push_request(is_eager=False, retries=0, called_directly=False)
        try:
            with (
                mock.patch.object(refresh_carbon_intensity, "retry", side_effect=Retry()) as retry,
                pytest.raises(Retry),
            ):
                refresh_carbon_intensity.run(provider="NESO")
        finally:
            refresh_carbon_intensity.pop_request()
        countdown = retry.call_args.kwargs["countdown"]
        assert 0 <= countdown <= 60  # retry_backoff=60 with full jitter on the first retry

    def test_with_a_broker_the_last_retry_gives_up_and_returns_the_summary(self, neso_server, zones, clock):
        neso_server.repeat(REGIONAL, Scripted(status=502))
        refresh_carbon_intensity.push_request(is_eager=False, retries=refresh_carbon_intensity.max_retries)
        try:
            summary = refresh_carbon_intensity.run(provider="NESO")
        finally:
            refresh_carbon_intensity.pop_request()
        assert summary["providers"][0]["status"] == "failed"
        assert summary["providers"][0]["transient"] is True

    def test_with_a_broker_every_provider_gets_its_own_task(self, zones):
        GridZoneFactory(carbon_provider=CarbonSource.WATTTIME, provider_zone_key="CAISO_NORTH", neso_region_id=None)
        refresh_carbon_intensity.push_request(is_eager=False, retries=0)
        try:
            with mock.patch.object(refresh_carbon_intensity, "delay") as delay:
                result = refresh_carbon_intensity.run()
        finally:
            refresh_carbon_intensity.pop_request()
        assert result == {"fanned_out": ["NESO", "WATTTIME"]}
        assert delay.call_args_list == [
            mock.call(provider="NESO", zone_ids=None),
            mock.call(provider="WATTTIME", zone_ids=None),
        ]

    def test_beat_schedules_the_task_every_half_hour(self, settings):
        entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == refresh_carbon_intensity.name)
        assert refresh_carbon_intensity.name == "zones.tasks.refresh_carbon_intensity"
        assert entry["schedule"].minute == {5, 35}


class TestZoneChangesEnqueueARefresh:
    def test_after_commit_with_ids(self, django_capture_on_commit_callbacks):
        with mock.patch.object(refresh_carbon_intensity, "delay") as delay:
            with django_capture_on_commit_callbacks() as callbacks:
                zone = services.zone_create(
                    zone_id="EDI-1",
                    zone_name="Edinburgh",
                    grid_zone_code="UK-EDI-01",
                    region="South Scotland",
                    latitude=Decimal("55.9"),
                    longitude=Decimal("-3.2"),
                    carbon_intensity=Decimal("40"),
                    energy_price=Decimal("0.2"),
                    neso_region_id=2,
                )
                delay.assert_not_called()  # not before the commit
            assert len(callbacks) == 1
            callbacks[0]()
        delay.assert_called_once_with(provider="NESO", zone_ids=[str(zone.pk)])

    def test_not_for_file_zones_nor_for_unrelated_changes(self, django_capture_on_commit_callbacks):
        zone = GridZoneFactory()
        with django_capture_on_commit_callbacks() as callbacks:
            services.zone_update(zone=zone, data={"zone_name": "Renamed"})
            services.zone_update(zone=zone, data={"carbon_provider": CarbonSource.FILE})
        assert callbacks == []


class TestCommand:
    def test_refresh_command_prints_the_summary(self, neso_server, zones, clock, capsys):
        neso_server.repeat(REGIONAL, regional(without={14}))
        call_command("refresh_carbon_intensity", "--provider", "NESO")
        out = capsys.readouterr().out
        assert "NESO: partial; 14 zones, 39 readings (39 inserted" in out
        assert "UK-R14: " in out

    def test_refresh_command_fails_when_nothing_could_be_refreshed(self, neso_server, zones, clock):
        neso_server.repeat(REGIONAL, Scripted(status=500))
        with pytest.raises(CommandError, match="no provider could be refreshed"):
            call_command("refresh_carbon_intensity")
