"""Input and output shapes of the analytics endpoints. The rules (ranges, buckets, who may group by
user) live in ``analytics.periods`` and ``analytics.selectors``; these only read and write them."""

from rest_framework import serializers

from analytics.periods import DEFAULT_TIME_ZONE, Bucket, Period, time_zone
from analytics.selectors import MAX_PROFILE_WEEKS, GroupBy
from workloads.capacity import RESOURCES
from zones.api.serializers import GridZoneSummarySerializer, UtcDateTimeField

OVERBOOKED_RESOURCES = [(name, label) for name, _, label in RESOURCES]


class LocalDateTimeField(serializers.DateTimeField):
    """A time written with the offset of the zone it was computed in (DRF would convert it to UTC)."""

    def to_representation(self, value):
        return value.isoformat()


class PeriodQuerySerializer(serializers.Serializer):
    """``?from=&to=&bucket=&tz=``: the period and how it is cut. ``validated_data["period"]`` is a Period."""

    def get_fields(self):
        # "from" is a Python keyword, so the fields are declared here rather than as attributes.
        return {
            "from": UtcDateTimeField(required=False, help_text="Start (inclusive). Default: 30 days before `to`."),
            "to": UtcDateTimeField(required=False, help_text="End (exclusive). Default: now."),
            "bucket": serializers.ChoiceField(
                choices=Bucket.choices, default=Bucket.DAY, help_text="Bucket size; hourly ranges at most 366 days."
            ),
            "tz": serializers.CharField(
                default=DEFAULT_TIME_ZONE,
                max_length=64,
                help_text="IANA time zone the buckets are cut in (days start at its midnight).",
            ),
            **self.extra_fields(),
        }

    def extra_fields(self) -> dict:
        return {}

    def validate_tz(self, value):
        return time_zone(value)

    def validate(self, attrs):
        attrs["period"] = Period.build(
            start=attrs.get("from"), end=attrs.get("to"), bucket=attrs["bucket"], tz=attrs["tz"]
        )
        return attrs


class WorkloadAnalyticsQuerySerializer(PeriodQuerySerializer):
    def extra_fields(self):
        return {
            "group_by": serializers.ChoiceField(
                choices=GroupBy.choices, required=False, help_text="Split each bucket by this; `user` for operators."
            )
        }


class AnalyticsExportQuerySerializer(WorkloadAnalyticsQuerySerializer):
    def extra_fields(self):
        return {
            **super().extra_fields(),
            "format": serializers.ChoiceField(choices=[("csv", "CSV")], default="csv", help_text="Only `csv`."),
        }


def _amount(help_text: str, places: int = 4, **kwargs):
    return serializers.DecimalField(max_digits=24, decimal_places=places, help_text=help_text, **kwargs)


class AnalyticsFiguresSerializer(serializers.Serializer):
    """The figures of a bucket or of the whole period (README, "Analytics", has every formula)."""

    submitted = serializers.IntegerField(help_text="Workloads submitted.")
    completed = serializers.IntegerField(help_text="Of those, COMPLETED now.")
    failed = serializers.IntegerField(help_text="Of those, FAILED now.")
    cancelled = serializers.IntegerField(help_text="Of those, CANCELLED now.")
    energy_kwh = _amount("Σ energy of the completed ones, kWh: measured, else estimated.", 3)
    carbon_emitted_kg = _amount("Σ emissions of the completed ones, kg.")
    baseline_carbon_kg = _amount("Σ their host-zone-at-once baseline emissions, kg.")
    carbon_saved_kg = _amount("baseline − emitted, kg (negative when the choices emitted more).")
    carbon_saved_pct = _amount("carbon saved ÷ baseline × 100; null when the baseline is 0.", 2, allow_null=True)
    cost_gbp = _amount("Σ cost of the completed ones, GBP.")
    baseline_cost_gbp = _amount("Σ their baseline cost, GBP.")
    cost_saved_gbp = _amount("baseline cost − cost, GBP.")
    mean_wait_minutes = _amount(
        "Mean of (start − submission) over those that started, minutes; null when none did.", 1, allow_null=True
    )
    on_time_share = _amount(
        "Completed ones with a deadline that ended by it ÷ completed ones with a deadline (0–1); null when none.",
        4,
        allow_null=True,
    )


class WorkloadAnalyticsRowSerializer(AnalyticsFiguresSerializer):
    bucket_start = LocalDateTimeField(help_text="Start of the bucket, in the requested zone.")
    bucket_end = LocalDateTimeField(help_text="End of the bucket (exclusive).")
    group_key = serializers.CharField(
        allow_null=True, help_text="The group's value (zone or user id, type, urgency); null without `group_by`."
    )
    group_label = serializers.CharField(allow_null=True, help_text="The group's name for people.")


class PeriodAnswerSerializer(serializers.Serializer):
    """An answer over a period: the period as understood (defaults filled in), then ``answer_fields``."""

    def get_fields(self):
        return {
            "from": LocalDateTimeField(source="period.start", help_text="Start (inclusive)."),
            "to": LocalDateTimeField(source="period.end", help_text="End (exclusive)."),
            "bucket": serializers.ChoiceField(choices=Bucket.choices, source="period.bucket"),
            "tz": serializers.CharField(source="period.tz.key", help_text="The zone the buckets are cut in."),
            **self.answer_fields(),
        }

    def answer_fields(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError


class WorkloadAnalyticsSerializer(PeriodAnswerSerializer):
    def answer_fields(self):
        return {
            "group_by": serializers.ChoiceField(choices=GroupBy.choices, allow_null=True),
            "rows": WorkloadAnalyticsRowSerializer(
                many=True,
                help_text="Per bucket (every bucket without `group_by`; with it, each group that has workloads).",
            ),
            "totals": AnalyticsFiguresSerializer(help_text="Over the whole period."),
        }


class ZoneUtilisationRowSerializer(serializers.Serializer):
    zone = GridZoneSummarySerializer()
    bucket_start = LocalDateTimeField()
    bucket_end = LocalDateTimeField()
    workloads = serializers.IntegerField(
        help_text="SCHEDULED, RUNNING and COMPLETED workloads whose window overlaps the bucket."
    )
    gpu_hours_reserved = _amount("Their GPU-minutes ÷ 60, each window's share inside the bucket.", 2)
    gpu_hours_capacity = _amount("The zone's GPUs × the bucket's hours.", 2)
    gpu_utilisation_pct = _amount("reserved ÷ capacity × 100.", 2, allow_null=True)
    core_hours_reserved = _amount("Σ cores × minutes of the window inside the bucket ÷ 60.", 2)
    core_hours_capacity = _amount("The zone's cores × the bucket's hours.", 2)
    core_utilisation_pct = _amount("reserved ÷ capacity × 100.", 2, allow_null=True)
    memory_gb_hours_reserved = _amount("Σ GB × minutes of the window inside the bucket ÷ 60.", 2)
    memory_gb_hours_capacity = _amount("The zone's GB × the bucket's hours.", 2)
    memory_gb_utilisation_pct = _amount("reserved ÷ capacity × 100.", 2, allow_null=True)


class ZoneUtilisationSerializer(PeriodAnswerSerializer):
    def answer_fields(self):
        return {
            "results": ZoneUtilisationRowSerializer(many=True, help_text="Zone × bucket pairs with reservations."),
        }


class ZoneOverbookingRowSerializer(serializers.Serializer):
    zone = GridZoneSummarySerializer()
    slot_start = UtcDateTimeField(help_text="Start of the half hour (UTC).")
    slot_end = UtcDateTimeField(help_text="End of the half hour (UTC).")
    resource = serializers.ChoiceField(
        choices=OVERBOOKED_RESOURCES, help_text="The resource held over capacity in that half hour."
    )
    held = serializers.FloatField(help_text="What scheduled and running work holds there (every organisation's).")
    capacity = serializers.FloatField(help_text="What the zone has.")
    short = serializers.FloatField(help_text="held − capacity: what has to move elsewhere.")
    workloads = serializers.ListField(
        child=serializers.CharField(), help_text="Job ids of the caller's work held there (no other organisation's)."
    )


class ZoneOverbookingSerializer(serializers.Serializer):
    results = ZoneOverbookingRowSerializer(many=True, help_text="Half hour × resource cells over capacity, by time.")


class ZoneProfileQuerySerializer(serializers.Serializer):
    weeks = serializers.IntegerField(
        min_value=1, max_value=MAX_PROFILE_WEEKS, default=4, help_text="How many past weeks to average over."
    )
    tz = serializers.CharField(default=DEFAULT_TIME_ZONE, max_length=64, help_text="IANA zone of the hours.")

    def validate_tz(self, value):
        return time_zone(value)


class ProfileCellSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(min_value=1, max_value=7, help_text="ISO weekday: 1 Monday … 7 Sunday.")
    hour = serializers.IntegerField(min_value=0, max_value=23, help_text="Local hour of the day.")
    mean_intensity = serializers.FloatField(allow_null=True, help_text="Mean gCO2/kWh; null without data.")
    samples = serializers.IntegerField(help_text="Half hours averaged.")


class CleanHourSerializer(serializers.Serializer):
    hour = serializers.IntegerField(min_value=0, max_value=23)
    mean_intensity = serializers.FloatField(help_text="Mean gCO2/kWh of that hour over every day.")


class ZoneProfileSerializer(serializers.Serializer):
    zone = GridZoneSummarySerializer()
    weeks = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    cells = ProfileCellSerializer(many=True, help_text="7 × 24 cells, Monday 00:00 first.")
    cleanest_hours = CleanHourSerializer(many=True, help_text="The 3 hours of the day with the lowest mean.")
