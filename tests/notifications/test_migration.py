"""The move of ``Notification`` from ``scheduling`` to ``notifications`` keeps every row (and the
content type, so permissions follow), and can be undone."""

import uuid

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("scheduling", "0001_initial"), ("notifications", None)]
AFTER = [("scheduling", "0002_notification_moves_to_its_own_app"), ("notifications", "0001_initial")]


def _migrate(targets):
    """Migrate to ``targets``; the historical models as they are there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


@pytest.mark.django_db(transaction=True)
def test_rows_survive_the_move_and_its_reversal(user):
    try:
        old_apps = _migrate(BEFORE)
        old = old_apps.get_model("scheduling", "Notification")
        ContentType.objects.filter(app_label="notifications", model="notification").delete()
        ContentType.objects.get_or_create(app_label="scheduling", model="notification")
        pk = uuid.uuid4()
        old.objects.create(id=pk, recipient_id=user.pk, kind="FAILED", title="kept", body="every byte")

        new_apps = _migrate(AFTER)
        moved = new_apps.get_model("notifications", "Notification").objects.get(pk=pk)
        assert (moved.recipient_id, moved.kind, moved.title, moved.body) == (user.pk, "FAILED", "kept", "every byte")
        cts = ContentType.objects
        assert cts.filter(app_label="notifications", model="notification").exists()
        assert not cts.filter(app_label="scheduling", model="notification").exists()

        back = _migrate(BEFORE).get_model("scheduling", "Notification")
        assert back.objects.get(pk=pk).title == "kept"
    finally:
        _migrate(AFTER)
        ContentType.objects.clear_cache()
