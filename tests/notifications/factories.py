import factory
from factory.django import DjangoModelFactory

from notifications.models import Notification, NotificationKind
from tests.accounts.factories import UserFactory


class NotificationFactory(DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    kind = NotificationKind.ASSIGNED
    title = factory.Sequence(lambda n: f"Notification {n}")
    body = "Something happened."
