from operator import itemgetter

from rest_framework import serializers

from pylon.api.serializers import StrictInputMixin
from scheduling.models import (
    MAX_WEIGHT,
    InfeasibleConstraint,
    PolicyPreset,
    Recommendation,
    SchedulingOutcome,
    SchedulingPolicy,
)
from workloads.api.serializers import (
    WORKLOAD_LIST_COLUMNS,
    ComputeWorkloadSerializer,
    workload_list_representation,
    workload_zone_ids,
)
from workloads.models import ComputeWorkload, WorkloadStatus
from zones.api.serializers import GridZoneSummarySerializer
from zones.summaries import zone_summaries


class RecommendationScorePartsSerializer(serializers.Serializer):
    """The unweighted, normalised parts of a score; the score is their sum weighted by the policy."""

    carbon = serializers.FloatField(
        source="score_carbon", help_text="Emissions ÷ the emissions of running at once in the host zone."
    )
    price = serializers.FloatField(source="score_price", help_text="Cost ÷ the cost of running at once there.")
    wait = serializers.FloatField(source="score_wait", help_text="Wait ÷ the wait the workload's urgency accepts.")


OPTION_FIELDS = [
    "rank",
    "zone",
    "start",
    "end",
    "expected_emissions_g",
    "expected_emissions_kg",
    "expected_cost_gbp",
    "carbon_saving_kg",
    "cost_saving_gbp",
    "mean_intensity",
    "mean_price",
    "wait_mins",
    "score",
    "score_parts",
    "energy_kwh",
]


class RecommendationSerializer(serializers.ModelSerializer):
    """One ranked option: where and when, and what the engine expects of it on the forecast."""

    zone = GridZoneSummarySerializer(read_only=True)
    expected_emissions_g = serializers.FloatField(read_only=True, help_text="Expected emissions, g CO2.")
    score_parts = RecommendationScorePartsSerializer(source="*", read_only=True)

    class Meta:
        model = Recommendation
        fields = [*OPTION_FIELDS, "forecast_fetched_at", "computed_at", "run_id"]
        read_only_fields = fields


class PreviewOptionSerializer(RecommendationSerializer):
    """An option of a workload that is not saved: nothing was stored, so no computation id."""

    class Meta(RecommendationSerializer.Meta):
        fields = OPTION_FIELDS
        read_only_fields = fields


class AppliedPolicySerializer(serializers.Serializer):
    """The weights a computation used."""

    preset = serializers.ChoiceField(choices=PolicyPreset.choices, source="policy_preset")
    carbon_weight = serializers.FloatField()
    price_weight = serializers.FloatField()
    wait_weight = serializers.FloatField()


class SchedulingOutcomeSerializer(serializers.ModelSerializer):
    """The last computation of a workload; when nothing is feasible, why."""

    constraint = serializers.ChoiceField(
        choices=InfeasibleConstraint.choices,
        source="constraint_or_none",
        allow_null=True,
        read_only=True,
        help_text="The constraint that left no option; null when feasible.",
    )
    policy = AppliedPolicySerializer(source="*", read_only=True, help_text="The policy the computation used.")

    class Meta:
        model = SchedulingOutcome
        fields = [
            "feasible",
            "constraint",
            "message",
            "baseline_emissions_kg",
            "baseline_cost_gbp",
            "energy_kwh",
            "energy_was_estimated",
            "policy",
            "forecast_fetched_at",
            "computed_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "baseline_emissions_kg": {"help_text": "Emissions of running at once in the host zone, kg CO2."},
            "energy_kwh": {"help_text": "Energy the figures assume, kWh."},
            "energy_was_estimated": {"help_text": "True when Pylon's power model estimated the energy."},
        }


class WorkloadRecommendationsSerializer(serializers.Serializer):
    """A workload's ranked options, and the outcome of the computation that produced them."""

    workload = serializers.UUIDField(source="workload.id")
    job_id = serializers.CharField(source="workload.job_id")
    status = serializers.ChoiceField(source="workload.status", choices=WorkloadStatus.choices)
    outcome = SchedulingOutcomeSerializer(
        allow_null=True, help_text="Null until Pylon has computed the workload (within seconds of submission)."
    )
    options = RecommendationSerializer(many=True, help_text="Best first; empty when nothing is feasible.")


class QueueEntrySerializer(ComputeWorkloadSerializer):
    """A PENDING workload in the operators' queue, with its options."""

    recommendations = RecommendationSerializer(many=True, read_only=True, source="ranked_recommendations")
    scheduling_outcome = SchedulingOutcomeSerializer(read_only=True, allow_null=True)

    class Meta(ComputeWorkloadSerializer.Meta):
        model = ComputeWorkload
        fields = [*ComputeWorkloadSerializer.Meta.fields, "recommendations", "scheduling_outcome"]
        read_only_fields = fields


# -- the queue's output path ------------------------------------------------------------------------
# As the workloads list's (``workloads.api.serializers``): plain ``values()`` rows shaped from the
# serializers' own field lists, exactly as ``QueueEntrySerializer`` shapes them (a test compares the two
# byte for byte), the options and outcomes read in one query each, the zones from the kept summaries.

#: The columns the queue's page reads: the workloads list's, and the urgency rank its cursor holds.
QUEUE_COLUMNS = (*WORKLOAD_LIST_COLUMNS, "urgency_rank")

#: An option's output fields, each with how it is read from a row (``QUEUE_OPTION_COLUMNS``): the
#: serializer's order; a field not listed here is the column of its name.
_OPTION_DERIVED = {
    "zone": None,  # the zone's summary, looked up by ``zone_id``
    "expected_emissions_g": lambda row: row["expected_emissions_kg"] * 1000.0,
    "score_parts": lambda row: {"carbon": row["score_carbon"], "price": row["score_price"], "wait": row["score_wait"]},
}
_OPTION_FIELDS = tuple(RecommendationSerializer.Meta.fields)
_OPTION_READERS = tuple(
    (name, None if name == "zone" else _OPTION_DERIVED.get(name) or itemgetter(name)) for name in _OPTION_FIELDS
)
QUEUE_OPTION_COLUMNS = (
    "zone_id",
    *(name for name in _OPTION_FIELDS if name not in _OPTION_DERIVED),
    "expected_emissions_kg",
    "score_carbon",
    "score_price",
    "score_wait",
)
_OUTCOME_FIELDS = tuple(SchedulingOutcomeSerializer.Meta.fields)
_OUTCOME_DERIVED = {
    "constraint": lambda row: row["constraint"] or None,
    "policy": lambda row: {
        "preset": row["policy_preset"],
        "carbon_weight": row["carbon_weight"],
        "price_weight": row["price_weight"],
        "wait_weight": row["wait_weight"],
    },
}
_OUTCOME_READERS = tuple((name, _OUTCOME_DERIVED.get(name) or itemgetter(name)) for name in _OUTCOME_FIELDS)
QUEUE_OUTCOME_COLUMNS = (
    *(name for name in _OUTCOME_FIELDS if name != "policy"),
    "policy_preset",
    "carbon_weight",
    "price_weight",
    "wait_weight",
)


def _option_representation(row: dict, zones: dict) -> dict:
    return {name: read(row) if read else zones.get(row["zone_id"]) for name, read in _OPTION_READERS}


def _outcome_representation(row: dict | None) -> dict | None:
    return None if row is None else {name: read(row) for name, read in _OUTCOME_READERS}


def queue_representation(rows: list[dict], options: list[dict], outcomes: dict) -> list[dict]:
    """What ``QueueEntrySerializer(many=True).data`` gives for these workloads (``rows`` read with
    ``QUEUE_COLUMNS``), their options (``QUEUE_OPTION_COLUMNS`` with ``workload_id``, by rank) and
    outcomes (``QUEUE_OUTCOME_COLUMNS`` by workload id). At most one query: the zones, when stale."""
    zones = zone_summaries(ids={*workload_zone_ids(rows), *(option["zone_id"] for option in options)})
    by_workload: dict = {}
    for option in options:
        by_workload.setdefault(option["workload_id"], []).append(_option_representation(option, zones))
    out = workload_list_representation(rows)
    for row, item in zip(rows, out, strict=True):
        item["recommendations"] = by_workload.get(row["id"], [])
        item["scheduling_outcome"] = _outcome_representation(outcomes.get(row["id"]))
    return out


class SchedulingPolicySerializer(serializers.ModelSerializer):
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null while the default.")
    is_default = serializers.SerializerMethodField(
        help_text="True while the organisation has never set a policy (the BALANCED default applies)."
    )

    class Meta:
        model = SchedulingPolicy
        fields = [
            "organization",
            "preset",
            "carbon_weight",
            "price_weight",
            "wait_weight",
            "auto_assign",
            "is_default",
            "updated_by",
            "updated_at",
        ]
        read_only_fields = fields

    def get_is_default(self, policy) -> bool:
        return policy.pk is None


def _weight(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=5, decimal_places=3, min_value=0, max_value=MAX_WEIGHT, required=False, help_text=help_text
    )


class SchedulingPolicyInputSerializer(StrictInputMixin, serializers.Serializer):
    """A new policy. A preset sets its weights (send none, or the preset's own); CUSTOM takes the
    weights sent, keeping the current ones for those not sent; at least one must be positive."""

    preset = serializers.ChoiceField(choices=PolicyPreset.choices)
    carbon_weight = _weight("0–10; CUSTOM only.")
    price_weight = _weight("0–10; CUSTOM only.")
    wait_weight = _weight("0–10; CUSTOM only.")
    auto_assign = serializers.BooleanField(
        required=False, help_text="Assign each PENDING workload its best option automatically; unchanged if absent."
    )


class PreviewInfeasibilitySerializer(serializers.Serializer):
    constraint = serializers.ChoiceField(choices=InfeasibleConstraint.choices)
    message = serializers.CharField()


class PreviewBaselineSerializer(serializers.Serializer):
    """Running at once in the host zone: what the savings are measured against."""

    zone = GridZoneSummarySerializer()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    emissions_kg = serializers.FloatField()
    cost_gbp = serializers.FloatField(allow_null=True)


class SchedulingPreviewSerializer(serializers.Serializer):
    """The ranked options an unsaved workload would get now. Nothing is stored."""

    feasible = serializers.BooleanField()
    options = PreviewOptionSerializer(many=True, help_text="Best first; empty when nothing is feasible.")
    infeasibility = PreviewInfeasibilitySerializer(allow_null=True, help_text="Why nothing is feasible; else null.")
    baseline = PreviewBaselineSerializer(allow_null=True, help_text="Null when the host zone has no forecast now.")
    energy_kwh = serializers.FloatField(help_text="Energy the figures assume, kWh.")
    energy_was_estimated = serializers.BooleanField()
    policy = AppliedPolicySerializer(help_text="The caller's organisation's policy.")
    forecast_fetched_at = serializers.DateTimeField(allow_null=True)
