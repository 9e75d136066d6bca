"""How the zones app reacts to outbox events (registered in ``ZonesConfig.ready``)."""

from outbox import registry
from outbox.models import EventType, OutboxEvent
from pylon import background
from zones.services import REFRESH_TASK


@registry.handler(EventType.ZONE_SOURCE_CHANGED)
def fetch_the_new_source(event: OutboxEvent) -> None:
    """A zone was created on, or moved to, a live source: fetch its forecast (idempotent upsert)."""
    background.task_named(REFRESH_TASK).delay(
        provider=event.payload["carbon_provider"], zone_ids=[event.payload["zone"]]
    )
