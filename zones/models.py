import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# Bounds that keep every stored figure physical (and every input a 400 rather than an overflow).
MAX_INTENSITY = 5000  # gCO2/kWh; the dirtiest grids are near 1,100
MAX_PRICE = Decimal("100")  # GBP/kWh


class CarbonSource(models.TextChoices):
    """Where carbon-intensity data comes from: a zone's provider, and the source of each reading."""

    NESO = "NESO", "NESO Carbon Intensity API (GB regions)"
    ELECTRICITY_MAPS = "ELECTRICITY_MAPS", "Electricity Maps"
    WATTTIME = "WATTTIME", "WattTime"
    FILE = "FILE", "Imported file"


#: Sources refreshed over the network by ``zones.refresh.carbon_refresh`` (FILE is imported only).
LIVE_SOURCES = (CarbonSource.NESO, CarbonSource.ELECTRICITY_MAPS, CarbonSource.WATTTIME)


class IntensityIndex(models.TextChoices):
    """NESO's carbon-intensity index band, spelt as the API spells it (a GB calibration)."""

    VERY_LOW = "very low", "Very low"
    LOW = "low", "Low"
    MODERATE = "moderate", "Moderate"
    HIGH = "high", "High"
    VERY_HIGH = "very high", "Very high"


#: NESO's DNO regions; 15–18 are the England/Scotland/Wales/GB aggregates, never a zone.
NESO_REGION_IDS = range(1, 15)


class GridZone(models.Model):
    """A data-centre region on the grid, with its current carbon intensity and energy price."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    zone_id = models.SlugField(
        max_length=32, unique=True, help_text="Short stable identifier of the data centre, e.g. `GLA-1`."
    )
    zone_name = models.CharField(max_length=120, help_text='Display name, e.g. "Glasgow Grid Cluster".')
    grid_zone_code = models.CharField(
        max_length=40, unique=True, help_text="Unique grid zone code, e.g. `UK-SCOTLAND-01`."
    )
    region = models.CharField(max_length=80, help_text='Grid region, e.g. "South Scotland".')
    country = models.CharField(max_length=80, default="United Kingdom")
    latitude = models.DecimalField(
        max_digits=8, decimal_places=5, validators=[MinValueValidator(-90), MaxValueValidator(90)]
    )
    longitude = models.DecimalField(
        max_digits=8, decimal_places=5, validators=[MinValueValidator(-180), MaxValueValidator(180)]
    )
    carbon_intensity = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_INTENSITY)],
        help_text="Current carbon intensity, gCO2/kWh.",
    )
    energy_price = models.DecimalField(
        max_digits=8,
        decimal_places=4,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_PRICE)],
        help_text="Current energy price, GBP/kWh.",
    )
    neso_region_id = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(NESO_REGION_IDS[0]), MaxValueValidator(NESO_REGION_IDS[-1])],
        help_text="National Grid ESO carbon-intensity region (1–14, the DNO regions); empty outside GB.",
    )
    carbon_provider = models.CharField(
        max_length=20,
        choices=CarbonSource.choices,
        default=CarbonSource.NESO,
        help_text=(
            "Where this zone's carbon-intensity forecast is refreshed from. NESO zones are keyed on "
            "`neso_region_id`; Electricity Maps and WattTime on `provider_zone_key`; FILE zones only "
            "hold imported data."
        ),
    )
    provider_zone_key = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text='The provider\'s key for this zone: an Electricity Maps zone ("FR") or a WattTime region '
        '("CAISO_NORTH"). Empty for NESO zones, whose key is `neso_region_id`.',
    )
    figures_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="When carbon intensity and price were last updated."
    )
    gpu_capacity = models.PositiveIntegerField(
        default=64, validators=[MaxValueValidator(1_000_000)], help_text="GPUs available to Pylon here."
    )
    cpu_core_capacity = models.PositiveIntegerField(
        default=2048, validators=[MaxValueValidator(100_000_000)], help_text="CPU cores available to Pylon here."
    )
    memory_gb_capacity = models.PositiveIntegerField(
        default=16384, validators=[MaxValueValidator(1_000_000_000)], help_text="Memory (GB) available to Pylon here."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["zone_name"]
        indexes = [
            models.Index(fields=["region"]),
            models.Index(fields=["country"]),
            models.Index(fields=["carbon_intensity"]),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(carbon_intensity__gte=0), name="zones_intensity_non_negative"),
            models.CheckConstraint(condition=models.Q(energy_price__gte=0), name="zones_price_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.zone_name} ({self.grid_zone_code})"

    def clean(self):
        super().clean()
        if self.carbon_provider == CarbonSource.NESO and self.neso_region_id is None:
            raise ValidationError({"neso_region_id": "A zone refreshed from NESO needs its NESO region id."})
        if (
            self.carbon_provider in (CarbonSource.ELECTRICITY_MAPS, CarbonSource.WATTTIME)
            and not (self.provider_zone_key or "").strip()
        ):
            raise ValidationError(
                {"provider_zone_key": "A zone refreshed from Electricity Maps or WattTime needs its zone key there."}
            )

    @property
    def provider_key(self) -> str | None:
        """The key this zone has at its provider (NESO region id as a string), or None if it has none."""
        if self.carbon_provider == CarbonSource.NESO:
            return None if self.neso_region_id is None else str(self.neso_region_id)
        return self.provider_zone_key.strip() or None


class ZoneIntensityReading(models.Model):
    """One half hour of carbon intensity for one zone, from one source.

    A newer fetch of the same zone, period and source updates the row (``zones.services.readings_upsert``).
    When several sources hold the same zone and period, readers take the *preferred* reading
    (``zones.selectors.preferred_reading``): one with an ``actual`` beats a forecast-only one; then the
    most recently fetched wins; then the zone's own provider. The figure of a period is its ``actual``
    when known, else its ``forecast``.
    """

    id = models.BigAutoField(primary_key=True)
    zone = models.ForeignKey(GridZone, on_delete=models.CASCADE, related_name="intensity_readings")
    period_start = models.DateTimeField(help_text="Start of the half hour, UTC.")
    period_end = models.DateTimeField(help_text="End of the half hour, UTC.")
    forecast = models.FloatField(null=True, blank=True, help_text="Forecast carbon intensity, gCO2/kWh.")
    actual = models.FloatField(null=True, blank=True, help_text="Measured or estimated carbon intensity, gCO2/kWh.")
    index = models.CharField(
        max_length=10,
        choices=IntensityIndex.choices,
        blank=True,
        default="",
        help_text="NESO index band (GB sources only).",
    )
    generation_mix = models.JSONField(
        null=True, blank=True, help_text="Generation mix, fuel → percent, when the source gives it."
    )
    source = models.CharField(max_length=20, choices=CarbonSource.choices)
    fetched_at = models.DateTimeField(help_text="When this reading was last fetched or imported.")

    class Meta:
        ordering = ["zone", "period_start", "source"]
        # The unique constraint's index (zone, period_start, source) also serves every range query on
        # (zone, period_start): a separate index on those two columns would only cost writes.
        constraints = [
            models.UniqueConstraint(fields=["zone", "period_start", "source"], name="zones_reading_unique_period"),
            models.CheckConstraint(
                condition=models.Q(forecast__isnull=False) | models.Q(actual__isnull=False),
                name="zones_reading_has_a_value",
            ),
            models.CheckConstraint(
                condition=(models.Q(forecast__isnull=True) | models.Q(forecast__gte=0, forecast__lte=MAX_INTENSITY))
                & (models.Q(actual__isnull=True) | models.Q(actual__gte=0, actual__lte=MAX_INTENSITY)),
                name="zones_reading_values_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gt=models.F("period_start")), name="zones_reading_period_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.zone_id} {self.period_start:%Y-%m-%dT%H:%MZ} {self.source}"

    @property
    def value(self) -> float:
        """The figure of the period: the actual when known, else the forecast."""
        return self.actual if self.actual is not None else self.forecast


class ZonePriceReading(models.Model):
    """One half hour of energy price for one zone, from one source (where a source gives prices).

    Without a price reading a period's price is the zone's flat ``energy_price``. Prices may be negative
    (real tariffs go below zero); the zone's current ``energy_price`` cannot, so it takes 0 then.
    """

    id = models.BigAutoField(primary_key=True)
    zone = models.ForeignKey(GridZone, on_delete=models.CASCADE, related_name="price_readings")
    period_start = models.DateTimeField(help_text="Start of the half hour, UTC.")
    period_end = models.DateTimeField(help_text="End of the half hour, UTC.")
    price = models.DecimalField(
        max_digits=8,
        decimal_places=4,
        validators=[MinValueValidator(-MAX_PRICE), MaxValueValidator(MAX_PRICE)],
        help_text="Energy price, GBP/kWh.",
    )
    source = models.CharField(max_length=20, choices=CarbonSource.choices)
    fetched_at = models.DateTimeField(help_text="When this price was last fetched or imported.")

    class Meta:
        ordering = ["zone", "period_start", "source"]
        constraints = [  # the unique index serves range queries on (zone, period_start)
            models.UniqueConstraint(fields=["zone", "period_start", "source"], name="zones_price_unique_period"),
            models.CheckConstraint(
                condition=models.Q(price__gte=-MAX_PRICE, price__lte=MAX_PRICE), name="zones_price_reading_in_range"
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gt=models.F("period_start")), name="zones_price_period_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.zone_id} {self.period_start:%Y-%m-%dT%H:%MZ} {self.source}: {self.price}"
