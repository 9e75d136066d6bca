"""The live event stream of the SPA and integrators (Server-Sent Events over ASGI).

The stream is a reader of the outbox's event log (``outbox.models.OutboxEvent``): a client's cursor
is an event id, and ``Last-Event-ID`` resumes from the log without a gap. Which events a caller sees
is decided by the workloads' and notifications' selectors (``selectors``); the log is woken through
``outbox.wake`` (Redis pub/sub across processes, or in-process) and polled as a fallback
(``fanout``); ``stream`` writes the ``text/event-stream``; ``tickets`` lets an ``EventSource``, which
cannot send headers, authenticate; ``slots`` bounds the connections of a principal.
"""
