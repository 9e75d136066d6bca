import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from tests.accounts.factories import OrganizationFactory
from webhooks import signing
from webhooks.models import WebhookDelivery, WebhookEndpoint


class WebhookEndpointFactory(DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    organization = factory.SubFactory(OrganizationFactory)
    url = factory.Sequence(lambda n: f"https://hooks{n}.example.com/pylon")
    event_types = factory.LazyFunction(lambda: ["workload.submitted", "ping"])
    secret = factory.LazyFunction(signing.secret_generate)


class WebhookDeliveryFactory(DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    endpoint = factory.SubFactory(WebhookEndpointFactory)
    message_id = factory.Sequence(lambda n: f"msg_{n}")
    event_type = "ping"
    body = '{"id":"msg","type":"ping","created_at":"2026-01-01T00:00:00Z","data":{}}'
    next_attempt_at = factory.LazyFunction(timezone.now)
