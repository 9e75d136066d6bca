"""Readings: upsert, current figures, staleness, the scheduling read, the file import and the demo trace."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import time_machine
from django.core.management import CommandError, call_command

from tests.zones.carbon_fixtures import FIXTURES_DIR, REPO_CARBON_DIR, SHARED_CARBON_DIR
from tests.zones.factories import GridZoneFactory, ZoneIntensityReadingFactory, ZonePriceReadingFactory
from zones import demo, selectors, services
from zones.models import CarbonSource, GridZone, ZoneIntensityReading, ZonePriceReading
from zones.providers import IntensityReading

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
HALF = timedelta(minutes=30)
REGIONAL = SHARED_CARBON_DIR / "uk_regional" / "uk_regional_2023-03.csv"
NATIONAL = SHARED_CARBON_DIR / "neso_gb_national_2023H1.csv"
EM_GB = SHARED_CARBON_DIR / "electricitymaps" / "GB_2022_hourly.csv"
needs_shared = pytest.mark.skipif(
    not SHARED_CARBON_DIR.is_dir(), reason="optional: the full shared traces are not beside this checkout"
)


def reading(start=T0, forecast=100.0, actual=None, key="13", index=None, mix=None) -> IntensityReading:
    return IntensityReading(key, start, start + HALF, forecast, actual, index, mix)


def upsert(zone, readings, source=CarbonSource.NESO, fetched_at=None):
    return services.readings_upsert(
        readings=[(zone.pk, r) for r in readings], source=source, fetched_at=fetched_at or datetime.now(UTC)
    )


class TestUpsert:
    def test_insert_then_unchanged_then_update(self):
        zone = GridZoneFactory()
        batch = [reading(T0 + i * HALF, forecast=100 + i) for i in range(96)]
        assert (upsert(zone, batch).inserted, ZoneIntensityReading.objects.count()) == (96, 96)
        again = upsert(zone, batch)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, 96)
        batch[5] = reading(T0 + 5 * HALF, forecast=1.0)
        changed = upsert(zone, batch)
        assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 95)
        assert ZoneIntensityReading.objects.count() == 96
        assert ZoneIntensityReading.objects.get(period_start=T0 + 5 * HALF).forecast == 1.0

    def test_a_newer_fetch_without_the_actual_keeps_it(self):
        zone = GridZoneFactory()
        upsert(zone, [reading(forecast=100, actual=120, index="moderate")])
        upsert(zone, [reading(forecast=110)])
        row = ZoneIntensityReading.objects.get()
        assert (row.forecast, row.actual, row.index) == (110, 120, "moderate")

    def test_sources_are_kept_apart(self):
        zone = GridZoneFactory()
        upsert(zone, [reading(forecast=100)], source=CarbonSource.NESO)
        upsert(zone, [reading(forecast=200)], source=CarbonSource.FILE)
        assert ZoneIntensityReading.objects.count() == 2

    def test_out_of_range_values_are_rejected_not_stored(self):
        zone = GridZoneFactory()
        counts = upsert(zone, [reading(forecast=9999), reading(T0 + HALF, forecast=10)])
        assert counts.inserted == 1 and len(counts.rejected) == 1

    def test_bulk_query_count_does_not_grow_with_rows(self, django_assert_max_num_queries):
        zones = GridZoneFactory.create_batch(14)
        pairs = [(z.pk, reading(T0 + i * HALF)) for z in zones for i in range(96)]
        # One query for the existing rows, then one INSERT … ON CONFLICT per batch: 2 batches on PostgreSQL,
        # more on SQLite (its bound on query parameters caps a batch near 110 rows); never one per row.
        with django_assert_max_num_queries(1 + math.ceil(len(pairs) / 100)):
            services.readings_upsert(readings=pairs, source=CarbonSource.NESO, fetched_at=T0)
        assert ZoneIntensityReading.objects.count() == 14 * 96

    def test_prices_upsert(self):
        zone = GridZoneFactory()
        prices = [(zone.pk, T0, T0 + HALF, Decimal("0.31")), (zone.pk, T0 + HALF, T0 + 2 * HALF, Decimal("-0.02"))]
        counts = services.prices_upsert(prices=prices, source=CarbonSource.FILE, fetched_at=T0)
        assert counts.inserted == 2
        again = services.prices_upsert(prices=prices, source=CarbonSource.FILE, fetched_at=T0)
        assert (again.inserted, again.unchanged) == (0, 2)
        assert ZonePriceReading.objects.count() == 2


class TestCurrentFigures:
    def test_from_the_reading_containing_now_actual_first(self):
        zone = GridZoneFactory(carbon_intensity=Decimal("500"), energy_price=Decimal("0.25"))
        fetched = T0 - timedelta(minutes=5)
        upsert(zone, [reading(T0 - HALF, forecast=90), reading(T0, forecast=100, actual=104.256)], fetched_at=fetched)
        services.prices_upsert(prices=[(zone.pk, T0, T0 + HALF, Decimal("-0.05"))], source="FILE", fetched_at=fetched)
        assert services.zone_figures_update(zone_ids=[zone.pk], now=T0 + timedelta(minutes=10)) == [zone.pk]
        zone.refresh_from_db()
        assert zone.carbon_intensity == Decimal("104.26")
        assert zone.energy_price == Decimal("0")  # a negative price reading; the zone's price cannot be
        assert zone.figures_updated_at == fetched

    def test_a_zone_without_a_current_reading_is_left_alone(self):
        zone = GridZoneFactory(carbon_intensity=Decimal("500"), figures_updated_at=None)
        upsert(zone, [reading(T0 - 4 * HALF)])
        assert services.zone_figures_update(zone_ids=[zone.pk], now=T0) == []
        zone.refresh_from_db()
        assert zone.carbon_intensity == Decimal("500")

    def test_preferred_reading_actual_then_newest_then_own_provider(self):
        zone = GridZoneFactory(carbon_provider=CarbonSource.NESO)
        ZoneIntensityReadingFactory(zone=zone, period_start=T0, forecast=100, source="NESO", fetched_at=T0)
        ZoneIntensityReadingFactory(zone=zone, period_start=T0, forecast=150, source="FILE", fetched_at=T0 + HALF)
        assert selectors.zone_intensity_series(zone=zone, start=T0, end=T0 + HALF)[0].reading.intensity == 150
        ZoneIntensityReadingFactory(
            zone=zone, period_start=T0, forecast=1, actual=120, source="WATTTIME", fetched_at=T0
        )
        assert selectors.zone_intensity_series(zone=zone, start=T0, end=T0 + HALF)[0].reading.intensity == 120


class TestStaleness:
    def test_by_age(self, settings):
        settings.CARBON_DATA_STALE_AFTER_MINUTES = 90
        zone = GridZoneFactory(figures_updated_at=T0)
        assert not selectors.zone_is_stale(zone=zone, now=T0 + timedelta(minutes=89))
        assert selectors.zone_is_stale(zone=zone, now=T0 + timedelta(minutes=91))
        settings.CARBON_DATA_STALE_AFTER_MINUTES = 120
        assert not selectors.zone_is_stale(zone=zone, now=T0 + timedelta(minutes=91))
        assert selectors.zone_is_stale(zone=GridZoneFactory(figures_updated_at=None), now=T0)


class TestIntensityGrid:
    def test_shape_nan_prices_and_fetched_at(self, django_assert_num_queries):
        a, b = GridZoneFactory(energy_price=Decimal("0.2")), GridZoneFactory(energy_price=Decimal("0.3"))
        ZoneIntensityReadingFactory(zone=a, period_start=T0, forecast=100, fetched_at=T0 - HALF)
        ZoneIntensityReadingFactory(zone=a, period_start=T0 + HALF, forecast=100, actual=80, fetched_at=T0)
        ZoneIntensityReadingFactory(zone=b, period_start=T0 + 2 * HALF, forecast=300, fetched_at=T0 - HALF)
        ZonePriceReadingFactory(zone=b, period_start=T0 + 2 * HALF, price=Decimal("0.5"))
        with django_assert_num_queries(2):
            grid = selectors.intensity_grid(zones=[a, b], start=T0 + timedelta(minutes=7), slots=4)
        assert grid.start == T0 and grid.zone_ids == [a.pk, b.pk] and grid.fetched_at == T0
        np.testing.assert_array_equal(grid.intensity, [[100, 80, np.nan, np.nan], [np.nan, np.nan, 300, np.nan]])
        np.testing.assert_allclose(grid.price, [[0.2] * 4, [0.3, 0.3, 0.5, 0.3]])

    @pytest.mark.parametrize("zone_count", [2, 10])
    def test_query_count_is_fixed(self, zone_count, django_assert_num_queries):
        zones = GridZoneFactory.create_batch(zone_count)
        for zone in zones:
            for i in range(5):
                ZoneIntensityReadingFactory(zone=zone, period_start=T0 + i * HALF)
        with django_assert_num_queries(2):
            grid = selectors.intensity_grid(zones=zones, start=T0, slots=96)
        assert grid.intensity.shape == (zone_count, 96) and np.isnan(grid.intensity).sum() == zone_count * 91

    def test_feeds_the_scheduling_engine(self):
        from scheduling.engine import ForecastGrid, run_footprint

        zone = GridZoneFactory(energy_price=Decimal("0.25"))
        ZoneIntensityReadingFactory(zone=zone, period_start=T0, forecast=100)
        ZoneIntensityReadingFactory(zone=zone, period_start=T0 + HALF, forecast=200)
        grid = selectors.intensity_grid(zones=[zone], start=T0, slots=3)
        forecast = ForecastGrid(
            start=grid.start, zone_codes=[zone.grid_zone_code], intensity=grid.intensity, price=grid.price
        )
        # One hour over the two known half hours: 2 kWh × mean(100, 200) g/kWh, 2 kWh × £0.25.
        assert run_footprint(forecast, zone.grid_zone_code, T0, 60, 2.0) == pytest.approx((300.0, 0.5))
        # The third half hour is unknown: a run into it has no footprint (unknown is not zero).
        assert run_footprint(forecast, zone.grid_zone_code, T0, 90, 2.0)[0] is None


class TestImport:
    @pytest.fixture
    def regions(self, db):
        return [GridZoneFactory(neso_region_id=r, grid_zone_code=f"UK-R{r:02d}") for r in range(1, 15)]

    def test_shipped_regional_trace_maps_region_ids_to_zones(self, regions, capsys):
        call_command("import_intensity", str(REPO_CARBON_DIR / "uk_regional_2023-03_dno.csv"))
        out = capsys.readouterr().out
        assert "rows read: 2688" in out and "readings: 2688 (2688 inserted, 0 updated, 0 unchanged)" in out
        row = ZoneIntensityReading.objects.filter(zone__neso_region_id=1).order_by("period_start").first()
        assert row.period_start == datetime(2023, 3, 13, 23, 30, tzinfo=UTC) and row.generation_mix["wind"] == 92.0

    def test_shipped_national_trace_into_one_zone(self, regions, capsys):
        national = REPO_CARBON_DIR / "neso_gb_national_2023H1.csv"
        call_command("import_intensity", str(national), "--zone", "UK-R13", "--source", "NESO")
        assert "rows read: 8689" in capsys.readouterr().out
        rows = ZoneIntensityReading.objects.filter(zone__grid_zone_code="UK-R13", source="NESO")
        assert rows.count() == 8689 and rows.filter(actual__isnull=True).count() == 5

    def test_electricity_maps_excerpt_by_provider_key(self, capsys):
        zone = GridZoneFactory(
            carbon_provider=CarbonSource.ELECTRICITY_MAPS, provider_zone_key="GB", neso_region_id=None
        )
        call_command("import_intensity", str(FIXTURES_DIR / "electricitymaps_GB_2021-01-01_hourly.csv"))
        assert "rows read: 24" in capsys.readouterr().out
        assert ZoneIntensityReading.objects.filter(zone=zone, actual__isnull=False).count() == 48

    @needs_shared
    def test_regional_trace_maps_region_ids_to_zones(self, regions, capsys):
        call_command("import_intensity", str(REGIONAL))
        out = capsys.readouterr().out
        assert "rows read: 3456" in out
        assert "readings: 2688 (2688 inserted, 0 updated, 0 unchanged)" in out
        assert "rejected: 0" in out
        assert "skipped: 192 readings of '15'" in out  # England, Scotland, Wales, GB: no Pylon zone
        assert ZoneIntensityReading.objects.filter(source="FILE").count() == 2688
        row = ZoneIntensityReading.objects.filter(zone__neso_region_id=1).order_by("period_start").first()
        assert row.period_start == datetime(2023, 3, 13, 23, 30, tzinfo=UTC) and row.generation_mix["wind"] == 92.0
        call_command("import_intensity", str(REGIONAL))
        assert "readings: 2688 (0 inserted, 0 updated, 2688 unchanged)" in capsys.readouterr().out

    @needs_shared
    def test_national_trace_into_one_zone(self, regions, capsys):
        call_command("import_intensity", str(NATIONAL), "--zone", "UK-R13", "--source", "NESO")
        out = capsys.readouterr().out
        assert "rows read: 8689" in out and "8689 inserted" in out
        rows = ZoneIntensityReading.objects.filter(zone__grid_zone_code="UK-R13", source="NESO")
        assert rows.count() == 8689 and rows.filter(actual__isnull=True).count() == 5

    @needs_shared
    def test_national_trace_without_a_zone_imports_nothing(self, regions):
        with pytest.raises(CommandError, match="nothing could be imported"):
            call_command("import_intensity", str(NATIONAL))

    @needs_shared
    def test_a_multi_series_file_needs_a_key_with_zone(self, regions, capsys):
        with pytest.raises(CommandError, match="holds 18 series"):
            call_command("import_intensity", str(REGIONAL), "--zone", "UK-R01")
        call_command("import_intensity", str(REGIONAL), "--zone", "UK-R01", "--key", "13")
        london = ZoneIntensityReading.objects.filter(zone__grid_zone_code="UK-R01")
        assert london.count() == 192

    @needs_shared
    def test_electricity_maps_export_by_provider_key(self, capsys):
        zone = GridZoneFactory(
            carbon_provider=CarbonSource.ELECTRICITY_MAPS, provider_zone_key="GB", neso_region_id=None
        )
        call_command("import_intensity", str(EM_GB))
        out = capsys.readouterr().out
        assert "rows read: 8760" in out and "17520 inserted" in out
        assert ZoneIntensityReading.objects.filter(zone=zone, actual__isnull=False).count() == 17520

    def test_pylon_file_with_prices_and_bad_lines(self, tmp_path: Path, capsys):
        zone = GridZoneFactory(grid_zone_code="UK-X-01")
        path = tmp_path / "trace.csv"
        path.write_text(
            "period_start,zone,forecast,actual,price_gbp_per_kwh\n"
            "2026-03-15T12:00:00+00:00,UK-X-01,100,,0.31\n"
            "2026-03-15T12:30:00+00:00,UK-X-01,-5,,0.31\n"
            "2026-03-15T12:45:00+00:00,UK-X-01,100,,0.31\n"
            "2026-03-15T13:00:00+00:00,UK-NOWHERE,100,,0.31\n"
            "not a time,UK-X-01,100,,\n",
            encoding="utf-8",
        )
        call_command("import_intensity", str(path))
        out = capsys.readouterr().out
        assert "rows read: 5" in out and "readings: 1 (1 inserted" in out
        assert "prices: 1 inserted" in out
        assert "rejected: 3" in out
        assert "line 3: negative intensity" in out and "line 4: period not aligned" in out
        assert "line 6: unparseable timestamp" in out
        assert "skipped: 1 readings of 'UK-NOWHERE'" in out
        assert ZonePriceReading.objects.get(zone=zone).price == Decimal("0.3100")

    def test_zone_less_file_with_zone_option(self, tmp_path: Path):
        GridZoneFactory(grid_zone_code="UK-X-01")
        path = tmp_path / "trace.csv"
        path.write_text("period_start,forecast\n2026-03-15T12:00:00Z,100\n", encoding="utf-8")
        call_command("import_intensity", str(path), "--zone", "UK-X-01")
        assert ZoneIntensityReading.objects.get().forecast == 100

    @pytest.mark.parametrize(
        "content,args,message",
        [
            ("", [], "the file is empty"),
            ("a,b,c\n1,2,3\n", [], "unrecognised header"),
            ("period_start,forecast\n2026-03-15T12:00:00Z,100\n", [], "no zone column"),
            ("period_start,zone,forecast\nnope,UK-X-01,1\n", [], "nothing could be imported"),
            ("period_start,forecast\n2026-03-15T12:00:00Z,100\n", ["--zone", "UK-MISSING"], "no zone with grid"),
            ("period_start,forecast\n2026-03-15T12:00:00Z,100\n", ["--key", "1"], "--key needs --zone"),
        ],
    )
    def test_bad_files_fail_with_a_reason(self, tmp_path: Path, content, args, message):
        GridZoneFactory(grid_zone_code="UK-X-01")
        path = tmp_path / "bad.csv"
        path.write_bytes(content.encode())
        with pytest.raises(CommandError, match=message):
            call_command("import_intensity", str(path), *args)
        assert not ZoneIntensityReading.objects.exists()

    def test_missing_file(self):
        with pytest.raises(CommandError, match="No such file"):
            call_command("import_intensity", "/nonexistent/trace.csv")

    def test_import_updates_current_figures_when_the_file_covers_now(self, tmp_path: Path):
        zone = GridZoneFactory(grid_zone_code="UK-X-01", carbon_intensity=Decimal("500"))
        path = tmp_path / "trace.csv"
        path.write_text("period_start,zone,forecast\n2026-03-15T12:00:00Z,UK-X-01,42\n", encoding="utf-8")
        with time_machine.travel(T0 + timedelta(minutes=10)):
            call_command("import_intensity", str(path))
        zone.refresh_from_db()
        assert zone.carbon_intensity == Decimal("42")


class TestDemoTrace:
    def test_shift_keeps_time_of_day_and_covers_history_and_48_hours_ahead(self):
        zones = demo.seed_zones()
        for now in (T0, T0.replace(hour=0, minute=1), T0.replace(hour=23, minute=59)):
            demo.seed_intensity(zones, now=now)
            grid = selectors.intensity_grid(zones=zones, start=now - timedelta(hours=24), slots=48 + 96)
            assert not np.isnan(grid.intensity).any(), now  # 24 hours back and 48 ahead, every zone
            assert demo.demo_shift(now) % timedelta(days=1) == timedelta(0)

    def test_values_are_the_recorded_ones_and_seeding_is_idempotent(self):
        zones = demo.seed_zones()
        first = demo.seed_intensity(zones, now=T0)
        assert first.inserted == 192 * 14
        again = demo.seed_intensity(zones, now=T0 + timedelta(minutes=20))
        assert (again.inserted, again.updated) == (0, 0)
        north = GridZone.objects.get(neso_region_id=1)
        first_slot = datetime(2023, 3, 13, 23, 30, tzinfo=UTC) + demo.demo_shift(T0)
        row = ZoneIntensityReading.objects.get(zone=north, period_start=first_slot)
        assert (row.forecast, row.source) == (0.0, "FILE")  # the trace's first North Scotland value
        assert all(not math.isnan(float(z.carbon_intensity)) for z in GridZone.objects.all())
        assert GridZone.objects.filter(figures_updated_at=T0 + timedelta(minutes=20)).count() == 14

    def test_seed_demo_loads_the_trace(self, capsys):
        call_command("seed_demo")
        assert ZoneIntensityReading.objects.count() == 192 * 14
        assert "Recorded NESO intensity" in capsys.readouterr().out
