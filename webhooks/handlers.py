"""How webhooks react to outbox events (registered in ``WebhooksConfig.ready``): each public
workload event becomes one message for every enabled endpoint of its organisation subscribed to
its type.

The handler runs after the change committed, in a worker (in-process when Celery is eager), at
least once; it is idempotent: the message id is the event's (``evt_<event id>``) and an endpoint
gets one delivery per message id, so handling an event again creates nothing.
"""

from django.db import transaction

from outbox import registry
from outbox import selectors as outbox_selectors
from outbox.models import OutboxEvent
from webhooks import selectors, services
from webhooks.api.messages import workload_messages
from webhooks.models import WebhookEventType

#: The outbox events endpoints can subscribe to (every webhook type but ``ping``, which Pylon sends on request).
WORKLOAD_EVENT_TYPES = [event_type for event_type in WebhookEventType.values if event_type != WebhookEventType.PING]


@registry.handler(*WORKLOAD_EVENT_TYPES)
def deliver_to_subscribed_endpoints(event: OutboxEvent) -> None:
    """A batch upload's events are fanned out together by the handler of its first event (one
    lookup of the endpoints, the owners and the zones for all of them); the others do nothing.
    Should the first be handled again, the batch's deliveries already exist: nothing new."""
    batch = event.payload.get("batch")
    if batch and int(batch["index"]) != 0:
        return
    endpoints = selectors.endpoints_subscribed(organization_id=event.organization_id, event_type=event.type)
    if not endpoints:
        return
    messages = workload_messages(outbox_selectors.event_batch(event=event))
    with transaction.atomic():
        services.deliveries_create(endpoints=endpoints, messages=messages)
