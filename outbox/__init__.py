"""The transactional outbox: Pylon's durable, ordered event log.

A change that must trigger work elsewhere records an event **in its own transaction**; nothing talks
to the broker inside a transaction or while a request waits on it. The same rows are the source of
webhooks and of the live event stream (issue 13).

Model: ``outbox.models.OutboxEvent``
    ``id``            bigint, the order of the log: a larger id committed after every smaller one
                      (ids are allocated under a lock held to the commit), so ``id > cursor`` never
                      skips a row; it is the ``Last-Event-ID`` of a stream.
    ``type``          ``EventType`` (``workload.submitted``, ``.updated``, ``.recommended``,
                      ``.unschedulable``, ``.assigned``, ``.started``, ``.completed``, ``.failed``,
                      ``.cancelled``; ``zone.source_changed``, ``zone.forecasts_updated``;
                      ``scheduling.policy_changed``; ``notification.created``; internal:
                      ``account.email_confirmation_requested``, ``account.password_reset_requested``).
    ``organization``  whose event it is (null for shared data: zones, forecasts).
    ``subject_id``    the workload (``workload.*``), zone (``zone.*``) or user (``account.*``) it is
                      about (a UUID, no FK: the log outlives its subjects).
    ``actor``         the user who caused it (null: Pylon itself — a policy, a refresh).
    ``payload``       JSON, as of the event. Every ``workload.*`` event has ``{"workload": {...}}``,
                      the workload right after the change (``workloads.services.SNAPSHOT_FIELDS``:
                      every column of the API's workload, relations as ids; ``user``: the owner's
                      id, for scoping a person's stream; webhooks send it as the API's object);
                      transitions add ``action``, ``from_status``, ``note``; a batch upload's
                      ``workload.submitted`` ``batch`` (``id``, ``index``, ``size``: read the whole
                      batch from its first event with ``selectors.event_batch`` or
                      ``event_batch_subject_ids``); ``workload.updated`` ``changed`` (field names);
                      ``workload.recommended`` ``recommendations`` (rank, zone, start,
                      expected emissions and cost); ``workload.unschedulable`` ``constraint``,
                      ``reason``. ``zone.forecasts_updated``: ``zone_ids``; ``zone.source_changed``:
                      ``zone``, ``carbon_provider``; ``scheduling.policy_changed``: ``preset``,
                      ``auto_assign``. ``notification.created``: ``notification`` (``id``,
                      ``recipient``, ``kind``, ``title``, ``body``, ``workload``, ``created_at``).
                      ``account.*``: nothing (never a token nor an address: the message is built
                      when it is sent).
    ``request_id``    the X-Request-ID of the request whose change recorded it ("" outside a
                      request); its message carries it, so the handlers' tasks log it too.
    ``created_at``    when it was recorded.
    ``published_at``, ``publish_attempts``, ``last_error``: the relay's state (internal handlers).
    ``handled_at``    when the registered handlers finished; a redelivered event is then skipped.
    Consumers with their own progress (webhook deliveries, stream cursors) keep it in their own
    rows keyed by the event id, not here.

Record (services, inside the writer's transaction, as its last writes)::

    from outbox import services as outbox
    outbox.event_record(type=EventType.WORKLOAD_SUBMITTED, organization_id=org_id, subject_id=w.pk,
                        actor=user, payload={...})
    outbox.events_record(events=[NewEvent(type=..., organization_id=..., subject_id=..., payload=...)])

Read (selectors)::

    outbox.selectors.events_after(after_id=last_seen, organization_id=None, subject_id=None,
                                  types=None, limit=100)   # oldest first
    outbox.selectors.outbox_backlog()                      # {"pending": n, "oldest_created_at": t}

React (handlers, registered by the consuming app in its ``AppConfig.ready``)::

    from outbox import registry

    @registry.handler(EventType.WORKLOAD_SUBMITTED, EventType.WORKLOAD_UPDATED)
    def recommend(event: OutboxEvent) -> None: ...   # idempotent; raise to be retried

Live streams: after the commit, ``wake.nudge_after_commit`` sends one nudge (Redis pub/sub, or
in-process without Redis) naming the last id, organisations and notification recipients; the
``events`` app's streams re-read the log from their cursors.

Delivery: after the commit, ``relay.publish_after_commit`` makes one bounded attempt to publish
the transaction's events as ``outbox.tasks.outbox_dispatch_batch(event_ids)``, one message a chunk of
``OUTBOX_DISPATCH_BATCH`` ids; ``outbox.tasks.outbox_relay`` (beat, every minute) and ``manage.py
outbox_relay`` publish whatever is left, in chunks too; the task runs each event's handlers in id
order, once (at least once under failures), each event in its own transaction: one that fails stays
unhandled without holding up the others. Events no handler wants never reach the broker.
``outbox.tasks.outbox_prune`` deletes handled events after ``OUTBOX_RETENTION_DAYS``.
"""
