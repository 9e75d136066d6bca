import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

# Upper bounds keep every figure physical and every oversized input a 400, never a DB overflow.
MAX_GPU_MINS = Decimal("100000000")  # ~190 GPU-years
MAX_CPU_CORES = 1_000_000
MAX_MEMORY_GB = Decimal("100000000")
MAX_ENERGY_KWH = Decimal("1000000000")
MAX_CARBON_CAP_G = Decimal("1000000000000")
MAX_PRICE_GBP = Decimal("1000000000")
MAX_DEFERRAL_MINS = 14 * 24 * 60
MAX_DURATION_MINS = 31 * 24 * 60
DEFAULT_DURATION_MINS = 60


class WorkloadType(models.TextChoices):
    TRAINING_RUN = "TRAINING_RUN", "Training run"
    FINE_TUNING = "FINE_TUNING", "Fine-tuning"
    INFERENCE_BATCH = "INFERENCE_BATCH", "Inference batch"
    DATA_PROCESSING = "DATA_PROCESSING", "Data processing"
    SIMULATION = "SIMULATION", "Simulation"
    RENDERING = "RENDERING", "Rendering"
    OTHER = "OTHER", "Other"


class Urgency(models.TextChoices):
    LOW = "LOW", "Low"
    MEDIUM = "MEDIUM", "Medium"
    HIGH = "HIGH", "High"
    CRITICAL = "CRITICAL", "Critical"


#: Most urgent first has the highest rank; used for ordering and scheduling priority.
URGENCY_RANK = {Urgency.LOW: 0, Urgency.MEDIUM: 1, Urgency.HIGH: 2, Urgency.CRITICAL: 3}


class WorkloadStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    SCHEDULED = "SCHEDULED", "Scheduled"
    RUNNING = "RUNNING", "Running"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"


UNFINISHED_STATUSES = (WorkloadStatus.PENDING, WorkloadStatus.SCHEDULED, WorkloadStatus.RUNNING)


def _decimal_field(max_digits: int, places: int, low: Decimal | int, high: Decimal | int, **kwargs):
    return models.DecimalField(
        max_digits=max_digits,
        decimal_places=places,
        validators=[MinValueValidator(low), MaxValueValidator(high)],
        **kwargs,
    )


class ComputeWorkload(models.Model):
    """A compute job a user submits, Pylon schedules and an operator runs (`compute_workloads`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job_id = models.CharField(max_length=32, unique=True, editable=False, help_text="Human-readable job id.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="workloads", help_text="The owner."
    )
    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="workloads")

    workload_name = models.CharField(max_length=200, help_text="A name the owner recognises the job by.")
    workload_type = models.CharField(
        max_length=24, choices=WorkloadType.choices, default=WorkloadType.OTHER, help_text="What kind of job it is."
    )
    urgency = models.CharField(
        max_length=16,
        choices=Urgency.choices,
        default=Urgency.MEDIUM,
        help_text="How soon it must run: higher urgency waits less for cleaner power; CRITICAL starts at once.",
    )
    # The urgency as a number, CRITICAL highest (``URGENCY_RANK``): a column, not an expression, so
    # the queue's index can hold it and a cursor can seek on it.
    urgency_rank = models.GeneratedField(
        expression=models.Case(
            *(models.When(urgency=urgency, then=models.Value(rank)) for urgency, rank in URGENCY_RANK.items()),
            default=models.Value(0),
            output_field=models.IntegerField(),
        ),
        output_field=models.IntegerField(),
        db_persist=True,
    )
    status = models.CharField(
        max_length=16,
        choices=WorkloadStatus.choices,
        default=WorkloadStatus.PENDING,
        help_text="Where the workload is in its lifecycle (set by Pylon's actions).",
    )
    host_dc = models.ForeignKey(
        "zones.GridZone",
        on_delete=models.PROTECT,
        related_name="hosted_workloads",
        help_text="The preferred zone: where the workload would run at once without Pylon.",
    )

    required_gpu_mins = _decimal_field(12, 2, 0, MAX_GPU_MINS, default=Decimal(0), help_text="GPU-minutes.")
    required_cpu_cores = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(MAX_CPU_CORES)], help_text="CPU cores held for the whole run."
    )
    required_memory_gb = _decimal_field(
        12, 2, 0, MAX_MEMORY_GB, default=Decimal(0), help_text="Memory held for the whole run, GB."
    )
    estimated_energy_kwh = _decimal_field(14, 3, 0, MAX_ENERGY_KWH, null=True, blank=True)
    estimated_duration_mins = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DURATION_MINS)],
        help_text="Run length; defaults to `required_gpu_mins` when that is set, else 60.",
    )
    carbon_cap_gco2 = _decimal_field(16, 2, Decimal("0.01"), MAX_CARBON_CAP_G, null=True, blank=True)
    max_price_gbp = _decimal_field(12, 2, Decimal("0.01"), MAX_PRICE_GBP, null=True, blank=True)
    deferral_window_mins = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_DEFERRAL_MINS)],
        help_text="How long after submission Pylon may delay the start for cleaner power, minutes.",
    )
    deadline = models.DateTimeField(null=True, blank=True, help_text="The run must have ended by then.")
    is_deferrable = models.BooleanField(default=True, help_text="Whether the start may wait at all.")

    recommended_grid_zone = models.ForeignKey(
        "zones.GridZone", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recommended_2_grid_zone = models.ForeignKey(
        "zones.GridZone", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recommended_3_grid_zone = models.ForeignKey(
        "zones.GridZone", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    chosen_grid_zone = models.ForeignKey(
        "zones.GridZone", on_delete=models.PROTECT, null=True, blank=True, related_name="chosen_workloads"
    )
    planned_start = models.DateTimeField(null=True, blank=True, help_text="When a SCHEDULED workload is to start.")

    actual_energy_kwh = _decimal_field(14, 3, 0, MAX_ENERGY_KWH, null=True, blank=True)
    carbon_emitted_kg = _decimal_field(16, 4, 0, Decimal("1e11"), null=True, blank=True)
    cost_gbp = _decimal_field(14, 4, 0, Decimal("1e9"), null=True, blank=True)
    baseline_carbon_kg = _decimal_field(16, 4, 0, Decimal("1e11"), null=True, blank=True)
    baseline_cost_gbp = _decimal_field(14, 4, 0, Decimal("1e9"), null=True, blank=True)

    submitted_at = models.DateTimeField(default=timezone.now, editable=False, help_text="When the owner submitted it.")
    actual_start = models.DateTimeField(null=True, blank=True, help_text="When the run really started.")
    actual_end = models.DateTimeField(null=True, blank=True, help_text="When the run really ended.")
    updated_at = models.DateTimeField(auto_now=True, help_text="When anything about it last changed.")

    class Meta:
        ordering = ["-submitted_at", "id"]  # the id breaks ties, so pages are stable
        indexes = [
            # The list's scopes (a user's own, an operator's organisation) in the list's order, with
            # the id that breaks ties: the first page and every cursor page are one index range.
            models.Index(fields=["user", "-submitted_at", "id"], name="workload_owner_recent_idx"),
            models.Index(fields=["organization", "-submitted_at", "id"], name="workload_org_recent_idx"),
            # The scheduling queue (an organisation's PENDING workloads, most urgent first): its scope and
            # its whole order, so its first page and every cursor page are one index range. Status is a
            # key column rather than a partial index's condition: a prepared statement binds it as a
            # parameter, and a generic plan cannot prove a parameter equal to the condition. Its prefix
            # serves what an (organisation, status) index did.
            models.Index(
                "organization",
                "status",
                models.F("urgency_rank").desc(),
                "deadline",  # ascending: NULLs last in PostgreSQL (SQLite refuses to be told so in an index)
                "submitted_at",
                "id",
                name="workload_org_queue_idx",
            ),
            models.Index(fields=["status"], name="workload_status_idx"),
            models.Index(fields=["chosen_grid_zone"], name="workload_chosen_zone_idx"),
            models.Index(fields=["-submitted_at"], name="workload_submitted_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(actual_end__isnull=True)
                | models.Q(actual_start__isnull=True)
                | models.Q(actual_end__gte=models.F("actual_start")),
                name="workload_ends_after_start",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["SCHEDULED", "RUNNING", "COMPLETED"])
                | models.Q(chosen_grid_zone__isnull=False),
                name="workload_scheduled_has_zone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} {self.workload_name}"

    @property
    def energy_kwh(self) -> Decimal | None:
        """The measured energy once known, else the estimate."""
        return self.actual_energy_kwh if self.actual_energy_kwh is not None else self.estimated_energy_kwh


class WorkloadEvent(models.Model):
    """One step of a workload's life: who moved it from which status to which, when, and why."""

    id = models.BigAutoField(primary_key=True)
    workload = models.ForeignKey(ComputeWorkload, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when Pylon itself acted (auto-scheduling).",
    )
    action = models.CharField(max_length=24)
    from_status = models.CharField(
        max_length=16, choices=WorkloadStatus.choices, null=True, blank=True, help_text="Empty for the submission."
    )
    to_status = models.CharField(max_length=16, choices=WorkloadStatus.choices)
    note = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["workload", "created_at"], name="workload_event_timeline_idx")]

    def __str__(self) -> str:
        return f"{self.workload.job_id}: {self.from_status or 'submitted'} → {self.to_status}"


class CapacityHold(models.Model):
    """What one SCHEDULED or RUNNING workload holds in one zone for one half hour: the capacity ledger.

    Written in the transaction that assigns, reassigns or starts the workload and deleted in the one that
    ends it (``workloads.capacity``), under a lock on the zone's row, so the sum of a zone's holds in a
    half hour is exactly what its scheduled and running work needs there. A run that covers part of a
    half hour holds it whole: capacity is checked per half hour.
    """

    id = models.BigAutoField(primary_key=True)
    workload = models.ForeignKey(ComputeWorkload, on_delete=models.CASCADE, related_name="capacity_holds")
    zone = models.ForeignKey("zones.GridZone", on_delete=models.PROTECT, related_name="capacity_holds")
    slot_start = models.DateTimeField(help_text="Start of the half hour held (:00 or :30 UTC).")
    gpus = models.FloatField(default=0.0, help_text="GPUs held: the workload's GPU-minutes over its duration.")
    cpu_cores = models.FloatField(default=0.0)
    memory_gb = models.FloatField(default=0.0)

    class Meta:
        ordering = ["zone", "slot_start", "workload"]
        indexes = [models.Index(fields=["zone", "slot_start"], name="capacity_hold_zone_slot_idx")]
        constraints = [
            models.UniqueConstraint(fields=["workload", "slot_start"], name="capacity_hold_one_per_slot"),
            models.CheckConstraint(
                condition=models.Q(gpus__gte=0) & models.Q(cpu_cores__gte=0) & models.Q(memory_gb__gte=0),
                name="capacity_hold_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workload_id} holds {self.zone_id} at {self.slot_start:%Y-%m-%d %H:%M}"


class CapacityOverbooking(models.Model):
    """A zone's half hour the ledger holds over capacity that operators have been told of
    (``workloads.overbooking``): late starts and overruns are not refused, and an operator may override.
    A half hour leaves the table once it is no longer over capacity (or has passed), so the same
    overbooking is told once, and a new one in its place is news again."""

    id = models.BigAutoField(primary_key=True)
    zone = models.ForeignKey("zones.GridZone", on_delete=models.CASCADE, related_name="capacity_overbookings")
    slot_start = models.DateTimeField(help_text="Start of the half hour over capacity (:00 or :30 UTC).")
    flagged_at = models.DateTimeField(default=timezone.now, help_text="When its operators were told.")

    class Meta:
        ordering = ["zone", "slot_start"]
        constraints = [models.UniqueConstraint(fields=["zone", "slot_start"], name="capacity_overbooking_once")]

    def __str__(self) -> str:
        return f"{self.zone_id} overbooked at {self.slot_start:%Y-%m-%d %H:%M}"
