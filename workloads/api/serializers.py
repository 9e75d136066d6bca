from decimal import Decimal
from operator import itemgetter

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from pylon.api.serializers import StrictInputMixin
from workloads import models as m
from workloads.batch import BatchMode
from workloads.models import ComputeWorkload, WorkloadEvent
from workloads.services import RESULT_FIELDS, SNAPSHOT_FIELDS, USER_FIELDS
from workloads.state_machine import WorkloadAction
from zones.api.serializers import GridZoneSummarySerializer
from zones.models import GridZone, IntensityIndex
from zones.summaries import zone_summaries

#: Set by Pylon, never by a client: sending one is a 400 that names it.
SYSTEM_FIELDS = ("id", "job_id", "user", "owner", "organization", "status", *RESULT_FIELDS)


class WorkloadOwnerSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "user_name", "email"]


class ComputeWorkloadSerializer(serializers.ModelSerializer):
    """A workload as users and operators see it."""

    owner = WorkloadOwnerSerializer(source="user", read_only=True)
    host_dc = GridZoneSummarySerializer(read_only=True)
    recommended_grid_zone = GridZoneSummarySerializer(read_only=True, allow_null=True)
    recommended_2_grid_zone = GridZoneSummarySerializer(read_only=True, allow_null=True)
    recommended_3_grid_zone = GridZoneSummarySerializer(read_only=True, allow_null=True)
    chosen_grid_zone = GridZoneSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = ComputeWorkload
        fields = ["id", "job_id", "owner", "organization", "status", *USER_FIELDS, *RESULT_FIELDS]
        read_only_fields = fields
        extra_kwargs = {
            "organization": {"help_text": "The owner's organisation (set by Pylon)."},
            "estimated_energy_kwh": {"help_text": "Estimated energy of the run, kWh."},
            "carbon_cap_gco2": {"help_text": "Most gCO2 the whole run may emit."},
            "max_price_gbp": {"help_text": "Most the whole run may cost, GBP."},
            "actual_energy_kwh": {"help_text": "Measured energy, kWh, when the operator reported it."},
            "carbon_emitted_kg": {"help_text": "What the run emitted: energy × the chosen zone's intensity, kg."},
            "cost_gbp": {"help_text": "What the run cost: energy × the chosen zone's price, GBP."},
            "baseline_carbon_kg": {
                "help_text": "Emissions had the same energy run at once, on submission, in the host zone, kg."
            },
            "baseline_cost_gbp": {"help_text": "Cost had the same energy run at once in the host zone, GBP."},
        }


# -- the list's output path -------------------------------------------------------------------------
# The list writes up to 100 rows × 33 fields with six nested objects per request. Going through
# ``ComputeWorkloadSerializer`` field by field costs several times what reading the rows does, so the
# list reads plain ``values()`` rows and shapes them here, from the serializer's own field lists: the
# output stays exactly the serializer's (a test compares the two on every kind of row) and the schema
# stays the serializer's. The page joins only its owner: the five zones' summaries come from one
# primary-key lookup of the few zones the page names (zones are a small, rarely changing table;
# planning a seven-way join cost more than running it). The count is taken without the join.

_ZONE_FIELDS = tuple(
    name for name, field in ComputeWorkloadSerializer().fields.items() if isinstance(field, GridZoneSummarySerializer)
)
_OWNER_FIELDS = tuple(WorkloadOwnerSerializer.Meta.fields)
_RELATED_IDS = {"organization": "organization_id", **{name: f"{name}_id" for name in _ZONE_FIELDS}}
_OWNER_COLUMNS = {name: "user_id" if name == "id" else f"user__{name}" for name in _OWNER_FIELDS}
_PLAIN_FIELDS = tuple(
    name for name in ComputeWorkloadSerializer.Meta.fields if name != "owner" and name not in _RELATED_IDS
)
#: The columns the list reads: the workload's own, its owner's (one join) and its zones' ids.
WORKLOAD_LIST_COLUMNS = (*_PLAIN_FIELDS, *_RELATED_IDS.values(), *_OWNER_COLUMNS.values())


def workload_zone_ids(rows: list[dict]) -> set:
    """The ids of the zones these rows (read with ``WORKLOAD_LIST_COLUMNS``) name."""
    return {row[f"{name}_id"] for row in rows for name in _ZONE_FIELDS}


#: Per output field (the serializer's order), the column that holds it or its id (the owner's own id
#: stands in for the owner until its object replaces it, which keeps the field's place).
_OUTPUT_COLUMNS = tuple(
    "user_id" if name == "owner" else _RELATED_IDS.get(name, name) for name in ComputeWorkloadSerializer.Meta.fields
)


def workload_list_representation(rows: list[dict]) -> list[dict]:
    """What ``ComputeWorkloadSerializer(many=True).data`` gives for these rows (read with
    ``WORKLOAD_LIST_COLUMNS``), in its field order, with one query for the zones whatever the number of rows."""
    zones = zone_summaries(ids=workload_zone_ids(rows))
    names, columns = ComputeWorkloadSerializer.Meta.fields, itemgetter(*_OUTPUT_COLUMNS)
    out = []
    for row in rows:
        item = dict(zip(names, columns(row), strict=True))
        item["owner"] = {field: row[column] for field, column in _OWNER_COLUMNS.items()}
        for name in _ZONE_FIELDS:
            item[name] = zones.get(item[name])
        out.append(item)
    return out


def _snapshot_parser(name: str):
    field = ComputeWorkload._meta.get_field(name)
    return field.target_field.to_python if field.is_relation else field.to_python


#: Each snapshot field's list column and how its JSON value becomes the Python value a row holds.
_SNAPSHOT_COLUMNS = {
    name: ("user_id" if name == "user" else _RELATED_IDS.get(name, name), _snapshot_parser(name))
    for name in SNAPSHOT_FIELDS
}


def workload_snapshot_representations(snapshots: list[dict]) -> list[dict]:
    """What ``ComputeWorkloadSerializer(many=True).data`` gives for workloads as their events'
    snapshots recorded them (``workloads.services.workload_snapshot``, JSON-decoded): the workload's
    own fields as of the event; its owner's name and email and its zones' summaries as they are now.
    Two queries (owners, zones) whatever the number of snapshots."""
    rows = [
        {
            column: None if snapshot[name] is None else parse(snapshot[name])
            for name, (column, parse) in _SNAPSHOT_COLUMNS.items()
        }
        for snapshot in snapshots
    ]
    owner_ids = {row["user_id"] for row in rows}
    owners = {owner.pop("id"): owner for owner in User.objects.filter(pk__in=owner_ids).values(*_OWNER_FIELDS)}
    for row in rows:  # an owner deleted since keeps their id, with no name
        owner = owners.get(row["user_id"], {"user_name": "", "email": ""})
        row.update({f"user__{name}": value for name, value in owner.items()})
    return workload_list_representation(rows)


def _decimal(max_digits, places, low, high, **kwargs):
    return serializers.DecimalField(
        max_digits=max_digits, decimal_places=places, min_value=Decimal(low), max_value=high, **kwargs
    )


class WorkloadInputSerializer(StrictInputMixin, serializers.Serializer):
    """What a user sends to submit a workload, or to change a PENDING one (the old form's names)."""

    system_fields = SYSTEM_FIELDS

    workload_name = serializers.CharField(max_length=200, help_text="A name the owner recognises the job by.")
    workload_type = serializers.ChoiceField(
        choices=m.WorkloadType.choices, default=m.WorkloadType.OTHER, help_text="What kind of job it is."
    )
    urgency = serializers.ChoiceField(
        choices=m.Urgency.choices,
        default=m.Urgency.MEDIUM,
        help_text="Higher urgency waits less for cleaner power; CRITICAL starts at once.",
    )
    host_dc = serializers.PrimaryKeyRelatedField(
        queryset=GridZone.objects.all(),
        help_text="Id of the preferred grid zone.",
        error_messages={"does_not_exist": "No grid zone has this id.", "incorrect_type": "Send a zone id (UUID)."},
    )
    required_gpu_mins = _decimal(12, 2, 0, m.MAX_GPU_MINS, default=Decimal(0), help_text="GPU-minutes, ≥ 0.")
    required_cpu_cores = serializers.IntegerField(
        min_value=0, max_value=m.MAX_CPU_CORES, default=0, help_text="CPU cores held for the whole run, ≥ 0."
    )
    required_memory_gb = _decimal(
        12, 2, 0, m.MAX_MEMORY_GB, default=Decimal(0), help_text="Memory held for the whole run, GB, ≥ 0."
    )
    estimated_energy_kwh = _decimal(
        14,
        3,
        0,
        m.MAX_ENERGY_KWH,
        required=False,
        allow_null=True,
        help_text="Estimated energy, kWh; when absent Pylon estimates it from the resources.",
    )
    estimated_duration_mins = serializers.IntegerField(
        min_value=1,
        max_value=m.MAX_DURATION_MINS,
        required=False,
        allow_null=True,
        help_text="Run length in minutes; defaults to `required_gpu_mins` when that is set, else 60.",
    )
    carbon_cap_gco2 = _decimal(
        16,
        2,
        "0.01",
        m.MAX_CARBON_CAP_G,
        required=False,
        allow_null=True,
        help_text="Most gCO2 the whole run may emit; positive.",
    )
    max_price_gbp = _decimal(
        12,
        2,
        "0.01",
        m.MAX_PRICE_GBP,
        required=False,
        allow_null=True,
        help_text="Most the whole run may cost, GBP; positive.",
    )
    deferral_window_mins = serializers.IntegerField(
        min_value=0,
        max_value=m.MAX_DEFERRAL_MINS,
        default=0,
        help_text="How long Pylon may delay the start for cleaner power, minutes.",
    )
    deadline = serializers.DateTimeField(
        required=False, allow_null=True, help_text="The run must end by then; leave room for its duration."
    )
    is_deferrable = serializers.BooleanField(default=True, help_text="Whether the start may wait at all.")

    def validate_deadline(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("The deadline must be in the future.")
        return value


@extend_schema_field(OpenApiTypes.STR)
class ZoneReferenceField(serializers.Field):
    """A zone named by its id or its ``grid_zone_code``, found in ``context["zones"]`` (looked up for
    the whole batch in one query, so that a row costs none)."""

    default_error_messages = {"does_not_exist": "No grid zone has this id or code."}

    def to_internal_value(self, data):
        zone = self.context["zones"].get(str(data).strip()) if isinstance(data, str) else None
        if zone is None:
            self.fail("does_not_exist")
        return zone

    def to_representation(self, value):
        return str(value.pk)


class BatchWorkloadRowSerializer(WorkloadInputSerializer):
    """One row of a batch: the submit form, every rule the same, but the zone by id or code."""

    host_dc = ZoneReferenceField(help_text="Id or `grid_zone_code` of the preferred grid zone.")


class BatchUploadQuerySerializer(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=BatchMode.choices,
        default=BatchMode.ALL_OR_NOTHING,
        help_text="`all_or_nothing`: nothing is saved if any row fails (400). `partial`: the valid rows are saved.",
    )
    dry_run = serializers.BooleanField(default=False, help_text="Check every row, save nothing.")


class BatchUploadFileSerializer(StrictInputMixin, serializers.Serializer):
    file = serializers.FileField(help_text="A UTF-8 CSV file whose header uses the submit form's field names.")


class BatchRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="The row, from 1: the first line after the header, or the first item.")
    field = serializers.CharField(help_text="The field at fault, or `non_field_errors`.")
    code = serializers.CharField(help_text="Machine-readable reason, e.g. `required`, `does_not_exist`, `invalid`.")
    message = serializers.CharField(help_text="What is wrong, for people.")


class BatchCreatedWorkloadSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="The row it came from.")
    id = serializers.UUIDField(source="workload.id")
    job_id = serializers.CharField(source="workload.job_id")


class BatchUploadResultSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=BatchMode.choices)
    dry_run = serializers.BooleanField()
    received = serializers.IntegerField(help_text="Rows in the upload.")
    valid = serializers.IntegerField(help_text="Rows that passed every check.")
    created = serializers.SerializerMethodField(help_text="Workloads saved (0 in a dry run).")
    errors = BatchRowErrorSerializer(many=True, help_text="Every problem of every failed row, in row order.")
    workloads = serializers.SerializerMethodField(help_text="The saved workloads, in row order.")

    def get_created(self, result) -> int:
        return len(result.created)

    @extend_schema_field(BatchCreatedWorkloadSerializer(many=True))
    def get_workloads(self, result):
        rows = [{"row": row, "workload": workload} for row, workload in result.created]
        return BatchCreatedWorkloadSerializer(rows, many=True).data


class WorkloadEventSerializer(serializers.ModelSerializer):
    actor = WorkloadOwnerSerializer(read_only=True, allow_null=True)
    action = serializers.ChoiceField(choices=WorkloadAction.choices)

    class Meta:
        model = WorkloadEvent
        fields = ["id", "action", "from_status", "to_status", "actor", "note", "created_at"]


#: The columns a timeline page reads: the event's own and its actor's (one join).
_ACTOR_COLUMNS = {name: "actor_id" if name == "id" else f"actor__{name}" for name in _OWNER_FIELDS}
WORKLOAD_EVENT_COLUMNS = (
    *(name for name in WorkloadEventSerializer.Meta.fields if name != "actor"),
    *_ACTOR_COLUMNS.values(),
)


def workload_event_representation(rows: list[dict]) -> list[dict]:
    """What ``WorkloadEventSerializer(many=True).data`` gives for these rows (read with
    ``WORKLOAD_EVENT_COLUMNS``), in its field order."""
    out = []
    for row in rows:
        item = {name: row[name] for name in WorkloadEventSerializer.Meta.fields if name != "actor"}
        actor = None if row["actor_id"] is None else {field: row[column] for field, column in _ACTOR_COLUMNS.items()}
        out.append({name: actor if name == "actor" else item[name] for name in WorkloadEventSerializer.Meta.fields})
    return out


class NoteSerializer(StrictInputMixin, serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class StartSerializer(NoteSerializer):
    override_capacity = serializers.BooleanField(
        default=False,
        help_text="Start even though the zone cannot hold the run from now for its whole length (a start "
        "away from the planned one; otherwise 409 `capacity_exceeded`). Needs a `note` saying why; the "
        "event log records what was short.",
    )

    def validate(self, attrs):
        if attrs["override_capacity"] and not attrs["note"].strip():
            raise serializers.ValidationError({"note": ["Say why you start beyond the zone's capacity."]})
        return attrs


class AssignSerializer(StrictInputMixin, serializers.Serializer):
    """Either take one of Pylon's recommendations (`rank`), or override them with a `zone` (and
    `start`) and a `reason`. The reason is kept in the workload's event log."""

    rank = serializers.IntegerField(
        min_value=1, max_value=3, required=False, help_text="Take Pylon's recommendation of this rank (1 = best)."
    )
    zone = serializers.PrimaryKeyRelatedField(
        queryset=GridZone.objects.all(),
        required=False,
        help_text="Override: the zone to run in.",
        error_messages={"does_not_exist": "No grid zone has this id.", "incorrect_type": "Send a zone id (UUID)."},
    )
    start = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Override: the planned start; default now."
    )
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why the recommendation is overridden; required with `zone`, optional with `rank`.",
    )
    reassign = serializers.BooleanField(
        default=False, help_text="Set to move a SCHEDULED workload; without it only PENDING ones are assigned."
    )
    override_capacity = serializers.BooleanField(
        default=False,
        help_text="Assign even though the zone cannot hold the workload for its whole run (otherwise 409 "
        "`capacity_exceeded`). Needs a `reason`; the event log records what was short.",
    )

    def validate(self, attrs):
        has_rank, has_zone = attrs.get("rank") is not None, attrs.get("zone") is not None
        if has_rank == has_zone:
            raise serializers.ValidationError("Send either `rank` (a recommendation) or `zone` (an override).")
        if has_rank and attrs.get("start") is not None:
            raise serializers.ValidationError({"start": ["A recommendation brings its own start; omit `start`."]})
        if attrs["override_capacity"] and not attrs["reason"].strip():
            raise serializers.ValidationError({"reason": ["Say why you assign beyond the zone's capacity."]})
        if has_zone and not attrs["reason"].strip():
            raise serializers.ValidationError({"reason": ["Say why you override Pylon's recommendation."]})
        return attrs


class CompleteSerializer(StrictInputMixin, serializers.Serializer):
    measured_energy_kwh = _decimal(
        14,
        3,
        0,
        m.MAX_ENERGY_KWH,
        required=False,
        allow_null=True,
        help_text="Energy the run really used, kWh. When absent: the workload's estimate, else the power "
        "model's estimate from its resources and real run length.",
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RecentWorkloadSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="workload.id")
    job_id = serializers.CharField(source="workload.job_id")
    workload_name = serializers.CharField(source="workload.workload_name")
    status = serializers.ChoiceField(source="workload.status", choices=m.WorkloadStatus.choices)
    submitted_at = serializers.DateTimeField(source="workload.submitted_at")
    carbon_emitted_kg = serializers.DecimalField(
        source="workload.carbon_emitted_kg", max_digits=16, decimal_places=4, allow_null=True
    )
    carbon_level = serializers.ChoiceField(
        choices=IntensityIndex.choices,
        allow_null=True,
        help_text="NESO index band of the run's real intensity (emissions ÷ energy); null until it has run.",
    )


# One count per status, named after it; built from the choices so a new status cannot be forgotten.
StatusCountsSerializer = type(
    "StatusCountsSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "Workloads per status.",
        **{
            status: serializers.IntegerField(help_text=f"{label} workloads.")
            for status, label in m.WorkloadStatus.choices
        },
    },
)


class MemberFiguresSerializer(serializers.Serializer):
    user = WorkloadOwnerSerializer()
    workloads = serializers.IntegerField(help_text="Workloads the member submitted, in any status.")
    carbon_emitted_kg = serializers.DecimalField(
        max_digits=20, decimal_places=4, help_text="Σ emissions of the member's COMPLETED workloads, kg."
    )
    carbon_saved_kg = serializers.DecimalField(
        max_digits=20, decimal_places=4, help_text="Σ (baseline − actual) emissions of their COMPLETED workloads, kg."
    )


class QueueFiguresSerializer(serializers.Serializer):
    length = serializers.IntegerField(help_text="PENDING workloads of the organisation.")
    oldest_submitted_at = serializers.DateTimeField(
        allow_null=True, help_text="Submission time of the longest-waiting PENDING workload; null when none waits."
    )
    oldest_wait_minutes = serializers.IntegerField(
        allow_null=True, help_text="How long it has waited, whole minutes; null when none waits."
    )


class WorkloadStatsSerializer(serializers.Serializer):
    counts_by_status = StatusCountsSerializer()
    total = serializers.IntegerField()
    active = serializers.IntegerField(help_text="RUNNING workloads.")
    queued = serializers.IntegerField(help_text="PENDING and SCHEDULED workloads.")
    completed = serializers.IntegerField()
    carbon_emitted_kg = serializers.DecimalField(max_digits=20, decimal_places=4)
    carbon_saved_kg = serializers.DecimalField(
        max_digits=20,
        decimal_places=4,
        help_text=(
            "Σ over COMPLETED workloads of (baseline − actual) emissions, kg. Actual = energy × the chosen "
            "zone's time-weighted intensity over the run ÷ 1000; baseline = the same energy × the host zone's "
            "intensity over a run of the same length starting at submission ÷ 1000. Negative when the "
            "choices emitted more."
        ),
    )
    cost_gbp = serializers.DecimalField(max_digits=20, decimal_places=4)
    cost_saved_gbp = serializers.DecimalField(
        max_digits=20,
        decimal_places=4,
        help_text="Σ over COMPLETED workloads of (baseline − actual) cost: energy × price, chosen vs host zone.",
    )
    recent = RecentWorkloadSerializer(many=True, help_text="The 4 most recently submitted workloads.")
    members = MemberFiguresSerializer(
        many=True,
        allow_null=True,
        help_text="Operators only (else null): every member of the organisation with their figures.",
    )
    queue = QueueFiguresSerializer(allow_null=True, help_text="Operators only (else null): the PENDING queue.")
