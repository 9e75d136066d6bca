"""Log formatting: plain text for people (the default), one JSON object per line in production
(``LOG_FORMAT=json``). Every record carries the request id and, in a worker, the task's name and id."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from pylon.observability import context

#: Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_STANDARD -= {"request_id", "task_name", "task_id"}  # in case the factory is already installed


def _stamp(record: logging.LogRecord) -> None:
    record.request_id = context.request_id.get() or "-"
    record.task_name = context.task_name.get()
    record.task_id = context.task_id.get()


def install_record_factory() -> None:
    """Stamp ``request_id``, ``task_name`` and ``task_id`` on every record when it is created, in
    the context it belongs to (a handler may format it later, elsewhere)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "pylon_context", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        _stamp(record)
        return record

    factory.pylon_context = True
    logging.setLogRecordFactory(factory)


class ContextFilter(logging.Filter):
    """For records made before the factory was installed (start-up): stamps what the context holds."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            _stamp(record)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and value is not None and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
