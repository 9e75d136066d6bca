"""The caller's own data under the UK GDPR: download it all, or delete the account.

The one place the accounts API reads across apps (workloads, notifications): an export is every app's
rows about one person, each shaped by its own app's serializer.
"""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from accounts import erasure
from accounts.api.serializers import AccountDeletionSerializer, UserProfileSerializer
from accounts.api.views import LAST_OPERATOR, OwnAccountView, sensitive
from notifications import selectors as notification_selectors
from notifications.api.serializers import NotificationSerializer
from workloads import selectors as workload_selectors
from workloads.api.serializers import ComputeWorkloadSerializer, WorkloadEventSerializer


class ExportedWorkloadEventSerializer(WorkloadEventSerializer):
    workload = serializers.UUIDField(source="workload_id", read_only=True, help_text="The workload it happened to.")

    class Meta(WorkloadEventSerializer.Meta):
        fields = ["workload", *WorkloadEventSerializer.Meta.fields]


class AccountExportSerializer(serializers.Serializer):
    """Everything Pylon holds about the caller."""

    exported_at = serializers.DateTimeField()
    profile = UserProfileSerializer()
    workloads = ComputeWorkloadSerializer(many=True, help_text="The workloads you submitted.")
    events = ExportedWorkloadEventSerializer(
        many=True, help_text="What happened to your workloads, and what you did as an operator."
    )
    notifications = NotificationSerializer(many=True)


class AccountExportView(OwnAccountView):
    @extend_schema(
        operation_id="auth_me_export",
        tags=["auth"],
        summary="Download my data (profile, workloads, events, notifications) as JSON",
        description="Served as an attachment (`pylon-account-export.json`).",
        responses={200: AccountExportSerializer},
    )
    def get(self, request):
        user = self.get_object()
        data = AccountExportSerializer(
            {
                "exported_at": timezone.now(),
                "profile": user,
                "workloads": workload_selectors.workload_list_owned(owner=user),
                "events": workload_selectors.workload_events_owned(owner=user),
                "notifications": notification_selectors.notification_list(fetched_by=user),
            }
        ).data
        return Response(data, headers={"Content-Disposition": 'attachment; filename="pylon-account-export.json"'})


@sensitive
class AccountDeleteView(OwnAccountView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "password_change"  # it checks the password too: one budget for guessing it
    idempotency_exempt = True  # the caller is gone afterwards: nobody to keep a key for

    @extend_schema(
        operation_id="auth_me_delete",
        tags=["auth"],
        summary="Delete my account",
        description=(
            "Needs the password. Erases the profile, notifications and sessions at once; the workloads "
            "you submitted stay for your organisation's accounting, owned by its anonymous "
            '"Deleted user" (as are the events you caused). Cannot be undone. A wrong password is a '
            "400 naming `password`. The last operator of an organisation that has other members is "
            "refused (409 `last_operator`) until another member is made an operator."
        ),
        request=AccountDeletionSerializer,
        responses={204: None, 409: LAST_OPERATOR},
    )
    def post(self, request):
        serializer = AccountDeletionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        erasure.user_delete(user=self.get_object(), **serializer.validated_data)
        self._write_target = None  # the row is gone by design: nothing to re-read
        return Response(status=status.HTTP_204_NO_CONTENT)
