"""The model that ``scheduling.0002`` handed over: its table is already ``notifications_notification``,
so this only records the model in this app's state. Its content type moves too, so permissions and
the admin's history follow it."""

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor, source="scheduling", target="notifications"):
    content_type = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if not content_type.objects.using(db).filter(app_label=target, model="notification").exists():
        content_type.objects.using(db).filter(app_label=source, model="notification").update(app_label=target)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="notifications", target="scheduling")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("scheduling", "0002_notification_moves_to_its_own_app"),
        ("workloads", "0002_help_text_and_stable_order"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Notification",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("ASSIGNED", "Assigned"),
                                    ("STARTED", "Started"),
                                    ("COMPLETED", "Completed"),
                                    ("FAILED", "Failed"),
                                    ("UNSCHEDULABLE", "Cannot be scheduled"),
                                    ("CANCELLED", "Cancelled"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("title", models.CharField(max_length=200)),
                        ("body", models.TextField(blank=True, default="")),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("read_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "recipient",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="notifications",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "workload",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="notifications",
                                to="workloads.computeworkload",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(
                                fields=["recipient", "read_at", "created_at"], name="notification_inbox_idx"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back, elidable=True),
    ]
