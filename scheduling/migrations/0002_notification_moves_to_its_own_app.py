"""``Notification`` moves to the ``notifications`` app. No row is copied or lost: the table is only
renamed here (``AlterModelTable``), and the model leaves this app's state; ``notifications.0001``
adopts the renamed table as its own (state only)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterModelTable(name="notification", table="notifications_notification"),
            ],
            state_operations=[
                migrations.DeleteModel(name="notification"),
            ],
        ),
    ]
