from rest_framework import serializers

from notifications.models import Notification, NotificationKind
from workloads.models import ComputeWorkload


class NotificationWorkloadSerializer(serializers.ModelSerializer):
    class Meta:
        model = ComputeWorkload
        fields = ["id", "job_id", "workload_name"]


class NotificationSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=NotificationKind.choices, read_only=True)
    workload = NotificationWorkloadSerializer(read_only=True, allow_null=True)
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "workload", "created_at", "read_at", "is_read"]
        read_only_fields = fields

    def get_is_read(self, notification) -> bool:
        return notification.read_at is not None


class NotificationsMarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notifications were unread and are now read.")


# -- the list's output path -------------------------------------------------------------------------
# An inbox grows without bound: the list reads plain ``values()`` rows and shapes them here exactly as
# ``NotificationSerializer`` would (a test compares the two byte for byte; the schema stays the
# serializer's), without DRF's per-field work.

_WORKLOAD_FIELDS = tuple(NotificationWorkloadSerializer.Meta.fields)
_WORKLOAD_COLUMNS = {name: "workload_id" if name == "id" else f"workload__{name}" for name in _WORKLOAD_FIELDS}
_PLAIN_FIELDS = ("id", "kind", "title", "body", "created_at", "read_at")
#: The columns the list reads: the notification's own and its workload's (one join).
NOTIFICATION_LIST_COLUMNS = (*_PLAIN_FIELDS, *_WORKLOAD_COLUMNS.values())


def notification_list_representation(rows: list[dict]) -> list[dict]:
    """What ``NotificationSerializer(many=True).data`` gives for these rows (read with
    ``NOTIFICATION_LIST_COLUMNS``), in its field order."""
    out = []
    for row in rows:
        item = {}
        for name in NotificationSerializer.Meta.fields:
            if name == "workload":
                item[name] = (
                    None
                    if row["workload_id"] is None
                    else {field: row[column] for field, column in _WORKLOAD_COLUMNS.items()}
                )
            elif name == "is_read":
                item[name] = row["read_at"] is not None
            else:
                item[name] = row[name]
        out.append(item)
    return out
