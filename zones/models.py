import uuid
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# Bounds that keep every stored figure physical (and every input a 400 rather than an overflow).
MAX_INTENSITY = 5000  # gCO2/kWh; the dirtiest grids are near 1,100
MAX_PRICE = Decimal("100")  # GBP/kWh


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
        validators=[MinValueValidator(1), MaxValueValidator(14)],
        help_text="National Grid ESO carbon-intensity region (1–14, the DNO regions); empty outside GB.",
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
