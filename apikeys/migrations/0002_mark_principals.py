"""Mark the principals of keys made before ``User.is_api_key_principal`` existed."""

from django.db import migrations


def mark_principals(apps, schema_editor):
    ApiKey = apps.get_model("apikeys", "ApiKey")
    User = apps.get_model("accounts", "User")
    User.objects.filter(pk__in=ApiKey.objects.values("principal_id")).update(is_api_key_principal=True)


class Migration(migrations.Migration):
    dependencies = [
        ("apikeys", "0001_initial"),
        ("accounts", "0004_user_is_api_key_principal"),
    ]

    operations = [migrations.RunPython(mark_principals, migrations.RunPython.noop)]
