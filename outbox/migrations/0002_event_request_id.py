from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("outbox", "0001_event_log"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxevent",
            name="request_id",
            field=models.CharField(
                blank=True,
                help_text="The request (X-Request-ID) whose change recorded it; the tasks it triggers log it too.",
                max_length=128,
            ),
        ),
    ]
