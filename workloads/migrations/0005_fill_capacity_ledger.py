"""Fill the capacity ledger with what existing SCHEDULED and RUNNING workloads hold.

A RUNNING workload holds from its real start, a SCHEDULED one from its planned start, for its
estimated duration; ``run_slots`` is the pure half-hour rule the ledger itself uses.
"""

from datetime import timedelta

from django.db import migrations

from workloads.capacity import run_slots


def fill(apps, schema_editor):
    workload_model = apps.get_model("workloads", "ComputeWorkload")
    hold_model = apps.get_model("workloads", "CapacityHold")
    rows = workload_model.objects.filter(status__in=["SCHEDULED", "RUNNING"], chosen_grid_zone__isnull=False).values_list(
        "pk",
        "status",
        "chosen_grid_zone_id",
        "planned_start",
        "actual_start",
        "estimated_duration_mins",
        "required_gpu_mins",
        "required_cpu_cores",
        "required_memory_gb",
    )
    holds = []
    for pk, status, zone_id, planned, started, duration, gpu_mins, cores, memory in rows.iterator():
        start = started if status == "RUNNING" and started else planned
        if start is None:
            continue
        for slot in run_slots(start, start + timedelta(minutes=duration)):
            holds.append(
                hold_model(
                    workload_id=pk,
                    zone_id=zone_id,
                    slot_start=slot,
                    gpus=float(gpu_mins) / duration,
                    cpu_cores=float(cores),
                    memory_gb=float(memory),
                )
            )
    hold_model.objects.bulk_create(holds, batch_size=1000)


def empty(apps, schema_editor):
    apps.get_model("workloads", "CapacityHold").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("workloads", "0004_capacity_hold")]

    operations = [migrations.RunPython(fill, empty)]
