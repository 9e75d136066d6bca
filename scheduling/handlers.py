"""How scheduling reacts to outbox events (registered in ``SchedulingConfig.ready``).

Each handler runs after the change committed, in a worker (in-process when Celery is eager), and
is idempotent: recomputing a workload writes the same rows however often it runs. The work itself
is the scheduling tasks' (found by name): one workload's computation, or the fan-out in chunks.
"""

from outbox import registry, selectors
from outbox.models import EventType, OutboxEvent
from pylon import background
from scheduling.services import RECOMMEND_TASK

RECOMPUTE_PENDING_TASK = "scheduling.tasks.recompute_pending"


@registry.handler(EventType.WORKLOAD_SUBMITTED, EventType.WORKLOAD_UPDATED)
def recommend_the_workload(event: OutboxEvent) -> None:
    """One task per submission: a batch upload's events name their batch, and its first event's
    handler recommends the whole batch (one run of the vectorised engine); the others do nothing.
    Should the first be redelivered, the batch is computed again (idempotent)."""
    batch = event.payload.get("batch")
    if batch and int(batch["index"]) != 0:
        return
    workload_ids = selectors.event_batch_subject_ids(event=event)
    background.task_named(RECOMMEND_TASK).delay(workload_ids=[str(pk) for pk in workload_ids])


@registry.handler(EventType.ZONE_FORECASTS_UPDATED)
def recompute_every_pending_workload(event: OutboxEvent) -> None:
    """New forecasts: every PENDING workload (all zones compete, so not only the zones that changed:
    a cleaner forecast anywhere can change every workload's ranking)."""
    background.task_named(RECOMPUTE_PENDING_TASK).delay()


@registry.handler(EventType.POLICY_CHANGED)
def recompute_the_organisations_workloads(event: OutboxEvent) -> None:
    background.task_named(RECOMPUTE_PENDING_TASK).delay(organization_id=str(event.organization_id))
