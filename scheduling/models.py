"""What the scheduler stores: each organisation's policy, the ranked options of every PENDING
workload, and why a workload cannot be scheduled.

Figures computed by the engine (emissions, cost, savings, scores) are floats: they are estimates on a
forecast, not money that was charged, and float columns keep the bulk writes of a recompute cheap.
What a run really emitted and cost is accounted in ``workloads`` as decimals.

The notifications its owners get live in the ``notifications`` app; this app writes them through
``notifications.services``.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from scheduling import engine

MAX_WEIGHT = Decimal("10")


class PolicyPreset(models.TextChoices):
    CARBON_FIRST = "CARBON_FIRST", "Carbon first: the least emissions within the constraints"
    BALANCED = "BALANCED", "Balanced: carbon and cost equally, waiting a little less"
    COST_FIRST = "COST_FIRST", "Cost first: the lowest energy cost within the constraints"
    CUSTOM = "CUSTOM", "Custom weights"


#: The weights each preset sets (carbon, price, wait), from the engine's presets.
PRESET_WEIGHTS: dict[str, tuple[Decimal, Decimal, Decimal]] = {
    name: (Decimal(str(w.carbon)), Decimal(str(w.price)), Decimal(str(w.wait)))
    for name, w in engine.POLICY_PRESETS.items()
}
DEFAULT_PRESET = PolicyPreset.BALANCED


def _weight_field(help_text: str) -> models.DecimalField:
    return models.DecimalField(
        max_digits=5,
        decimal_places=3,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(MAX_WEIGHT)],
        help_text=help_text,
    )


class SchedulingPolicy(models.Model):
    """How an organisation trades carbon against cost and waiting, and whether Pylon assigns by itself.

    An organisation without a row has the BALANCED default without auto-assignment; the row is
    created the first time an operator changes the policy (``services.policy_update``).
    """

    id = models.BigAutoField(primary_key=True)
    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="scheduling_policy"
    )
    preset = models.CharField(max_length=16, choices=PolicyPreset.choices, default=DEFAULT_PRESET)
    carbon_weight = _weight_field("Weight of emissions relative to running at once in the host zone.")
    price_weight = _weight_field("Weight of energy cost relative to running at once in the host zone.")
    wait_weight = _weight_field("Weight of waiting, relative to the wait the workload's urgency accepts.")
    auto_assign = models.BooleanField(
        default=False, help_text="Assign each PENDING workload its best feasible option as soon as it is computed."
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "scheduling policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(carbon_weight__gte=0, carbon_weight__lte=MAX_WEIGHT)
                & models.Q(price_weight__gte=0, price_weight__lte=MAX_WEIGHT)
                & models.Q(wait_weight__gte=0, wait_weight__lte=MAX_WEIGHT),
                name="scheduling_policy_weights_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(carbon_weight__gt=0) | models.Q(price_weight__gt=0) | models.Q(wait_weight__gt=0),
                name="scheduling_policy_some_weight",
            ),
        ]

    def __str__(self) -> str:
        return f"Scheduling policy of {self.organization.name}"

    @classmethod
    def default_for(cls, organization_id) -> "SchedulingPolicy":
        """The unsaved default of an organisation that never set a policy."""
        carbon, price, wait = PRESET_WEIGHTS[DEFAULT_PRESET]
        return cls(
            organization_id=organization_id,
            preset=DEFAULT_PRESET,
            carbon_weight=carbon,
            price_weight=price,
            wait_weight=wait,
            auto_assign=False,
        )

    def clean(self):
        # That a preset sets its own weights is applied by ``services.policy_update``, the one writer.
        super().clean()
        weights = (self.carbon_weight, self.price_weight, self.wait_weight)
        if all(w is not None for w in weights) and not any(w > 0 for w in weights):
            raise ValidationError({"carbon_weight": ["At least one weight must be positive."]})

    @property
    def weights(self) -> engine.PolicyWeights:
        return engine.PolicyWeights(
            carbon=float(self.carbon_weight), price=float(self.price_weight), wait=float(self.wait_weight)
        )


class Recommendation(models.Model):
    """One ranked option for a PENDING workload: a zone and start, and what the engine expects of it.

    Replaced as a whole on every recompute; ``run_id`` names the recompute that wrote it and
    ``forecast_fetched_at`` the forecast it was computed on.
    """

    id = models.BigAutoField(primary_key=True)
    workload = models.ForeignKey("workloads.ComputeWorkload", on_delete=models.CASCADE, related_name="recommendations")
    rank = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(3)], help_text="1 is the best option."
    )
    zone = models.ForeignKey("zones.GridZone", on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField(help_text="Recommended start.")
    end = models.DateTimeField(help_text="Expected end: start plus the estimated duration.")
    expected_emissions_kg = models.FloatField(help_text="Energy × the forecast mean intensity over the run, kg CO2.")
    expected_cost_gbp = models.FloatField(null=True, blank=True, help_text="Energy × forecast mean price, GBP.")
    carbon_saving_kg = models.FloatField(
        null=True, blank=True, help_text="Against running at once in the host zone, kg CO2; null without a baseline."
    )
    cost_saving_gbp = models.FloatField(null=True, blank=True, help_text="Against running at once in the host zone.")
    mean_intensity = models.FloatField(help_text="Forecast mean carbon intensity over the run, gCO2/kWh.")
    mean_price = models.FloatField(null=True, blank=True, help_text="Forecast mean price over the run, GBP/kWh.")
    wait_mins = models.FloatField(help_text="Minutes between the earliest possible start and this start.")
    score = models.FloatField(help_text="Weighted sum of the score parts; lower is better.")
    score_carbon = models.FloatField(help_text="Emissions ÷ the host-now emissions (unweighted).")
    score_price = models.FloatField(help_text="Cost ÷ the host-now cost (unweighted).")
    score_wait = models.FloatField(help_text="Wait ÷ the wait the urgency accepts (unweighted).")
    energy_kwh = models.FloatField(help_text="Energy the figures assume, kWh (the estimate, or the power model's).")
    forecast_fetched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the newest forecast figure used was fetched."
    )
    computed_at = models.DateTimeField()
    run_id = models.UUIDField(help_text="The recompute that wrote this row.")

    class Meta:
        ordering = ["workload", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["workload", "rank"], name="scheduling_recommendation_unique_rank"),
            models.CheckConstraint(condition=models.Q(rank__gte=1, rank__lte=3), name="scheduling_recommendation_rank"),
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="scheduling_recommendation_end"),
        ]

    def __str__(self) -> str:
        return f"{self.workload.job_id} #{self.rank}: {self.zone.zone_name} from {self.start:%Y-%m-%d %H:%M} UTC"

    @property
    def expected_emissions_g(self) -> float:
        return self.expected_emissions_kg * 1000.0


class InfeasibleConstraint(models.TextChoices):
    """The constraint that left a workload without any option (the engine's ``Constraint``)."""

    NO_ZONES = "NO_ZONES", "No zones are configured"
    DEADLINE = "DEADLINE", "The deadline cannot be met"
    NO_FORECAST = "NO_FORECAST", "No forecast covers the run"
    CAPACITY = "CAPACITY", "Not enough free capacity"
    CARBON_CAP = "CARBON_CAP", "The carbon cap cannot be met"
    PRICE_CAP = "PRICE_CAP", "The price cap cannot be met"


class SchedulingOutcome(models.Model):
    """The last computation for a workload: when, on which forecast and policy, and, when nothing is
    feasible, the binding constraint in an operator's words. One row per workload, upserted."""

    workload = models.OneToOneField(
        "workloads.ComputeWorkload", on_delete=models.CASCADE, primary_key=True, related_name="scheduling_outcome"
    )
    feasible = models.BooleanField(help_text="Whether at least one option satisfies every constraint.")
    constraint = models.CharField(
        max_length=16, choices=InfeasibleConstraint.choices, blank=True, default="", help_text="Empty when feasible."
    )
    message = models.TextField(blank=True, default="", help_text="Why nothing is feasible; empty when feasible.")
    details = models.JSONField(default=dict, blank=True, help_text="The figures behind the message (closest misses).")
    baseline_emissions_kg = models.FloatField(null=True, blank=True, help_text="Running at once in the host zone.")
    baseline_cost_gbp = models.FloatField(null=True, blank=True)
    energy_kwh = models.FloatField()
    energy_was_estimated = models.BooleanField(default=False)
    policy_preset = models.CharField(max_length=16, choices=PolicyPreset.choices)
    carbon_weight = models.FloatField()
    price_weight = models.FloatField()
    wait_weight = models.FloatField()
    forecast_fetched_at = models.DateTimeField(null=True, blank=True)
    workload_updated_at = models.DateTimeField(help_text="The workload's `updated_at` the computation saw.")
    computed_at = models.DateTimeField()
    run_id = models.UUIDField()

    class Meta:
        indexes = [models.Index(fields=["feasible"], name="scheduling_outcome_feasible")]

    def __str__(self) -> str:
        verdict = "schedulable" if self.feasible else self.get_constraint_display().lower()
        return f"{self.workload.job_id}: {verdict}"

    @property
    def constraint_or_none(self) -> str | None:
        return self.constraint or None
