"""The scoped bases re-read what a write touched: a row that left the caller's scope is a 403 and the
write is rolled back, whether or not the handler remembered to call ``written``."""

import pytest
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate

from accounts.api.views import MeView
from conftest import client_for
from notifications import selectors
from notifications.models import Notification
from pylon.api.viewsets import ScopedGenericViewSet
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db


class ForgetfulViewSet(ScopedGenericViewSet):
    """A write handler that never calls ``written``: the base class checks it anyway."""

    model = Notification

    def scoped_queryset(self, user):
        return selectors.notification_list(fetched_by=user)

    @action(detail=True, methods=["post"])
    def rename(self, request, pk=None):
        notification = self.get_object()
        notification.title = "renamed"
        notification.save(update_fields=["title"])
        return Response({"ok": True})


def _rename(user, notification):
    request = APIRequestFactory().post("/", {}, format="json")
    force_authenticate(request, user=user)
    # No transaction around the call: the base opens the write's own (WritesInTransaction).
    return ForgetfulViewSet.as_view({"post": "rename"})(request, pk=str(notification.pk))


def test_a_write_still_in_scope_is_kept(user):
    notification = NotificationFactory(recipient=user, title="before")
    assert _rename(user, notification).status_code == 200
    notification.refresh_from_db()
    assert notification.title == "renamed"


def test_a_handler_that_forgets_the_re_read_is_still_checked_and_rolled_back(user, monkeypatch):
    notification = NotificationFactory(recipient=user, title="before")
    monkeypatch.setattr(ForgetfulViewSet, "_visible_after_write", lambda self, pk: None)
    response = _rename(user, notification)
    assert response.status_code == 403
    assert response.data["code"] == "permission_denied"
    notification.refresh_from_db()
    assert notification.title == "before"


def test_a_plain_api_view_write_that_leaves_the_scope_is_rolled_back(user, monkeypatch):
    monkeypatch.setattr(MeView, "_visible_after_write", lambda self, pk: None)
    response = client_for(user).patch("/api/v1/auth/me/", {"user_name": "Escaped"}, format="json")
    assert response.status_code == 403
    user.refresh_from_db()
    assert user.user_name != "Escaped"
