"""How many live streams a principal (a user, or an API key) holds open: at most
``STREAM_MAX_CONNECTIONS`` at once, across every process.

A connection holds a *lease* that its stream renews at every heartbeat and releases when it ends;
a lease not renewed for ``lease_seconds()`` (a process killed mid-stream) lapses by itself, so a
crash never locks a principal out for longer. With Redis the leases of a principal are one sorted
set (member: the connection, score: when its lease lapses), taken by one atomic script; without
Redis (one process) a dictionary. Redis failing: the cap is not enforced (fails open, logged), like
the other limits of the cache (``pylon.cache``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from django.conf import settings

from outbox import wake
from pylon.core.exceptions import ApplicationError, ErrorCode

logger = logging.getLogger(__name__)

KEY_PREFIX = "pylon:stream-slots:"

# KEYS[1]: the principal's set; ARGV: now, lapses at, the cap, the connection, the key's TTL.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class TooManyStreams(ApplicationError):
    status_code = 429
    code = ErrorCode.TOO_MANY_STREAMS


_local: dict[str, dict[str, float]] = {}
_local_lock = threading.Lock()


def lease_seconds() -> float:
    return float(settings.STREAM_HEARTBEAT_SECONDS) * 3 + 5


def slot_acquire(*, principal: str) -> str | None:
    """A lease for one more stream of ``principal``, or None when it holds the maximum already."""
    connection = uuid.uuid4().hex
    now = time.time()
    lapses = now + lease_seconds()
    limit = int(settings.STREAM_MAX_CONNECTIONS)
    if not settings.REDIS_URL:
        with _local_lock:
            for name in [name for name, leases in _local.items() if all(t <= now for t in leases.values())]:
                del _local[name]  # every lease of that principal lapsed
            leases = {c: t for c, t in _local.get(principal, {}).items() if t > now}
            if len(leases) >= limit:
                return None
            leases[connection] = lapses
            _local[principal] = leases
        return connection
    try:
        taken = wake.redis_client().eval(
            _ACQUIRE, 1, KEY_PREFIX + principal, now, lapses, limit, connection, int(lease_seconds()) + 1
        )
    except Exception as exc:
        logger.warning("stream slots: Redis unavailable (%s); the connection cap is not enforced", exc)
        return connection
    return connection if taken else None


def slot_renew(*, principal: str, connection: str) -> None:
    lapses = time.time() + lease_seconds()
    if not settings.REDIS_URL:
        with _local_lock:
            if connection in _local.get(principal, {}):
                _local[principal][connection] = lapses
        return
    try:
        client = wake.redis_client()
        client.zadd(KEY_PREFIX + principal, {connection: lapses}, xx=True)
        client.expire(KEY_PREFIX + principal, int(lease_seconds()) + 1)
    except Exception as exc:
        logger.warning("stream slots: could not renew a lease (%s)", exc)


def slot_release(*, principal: str, connection: str) -> None:
    if not settings.REDIS_URL:
        with _local_lock:
            leases = _local.get(principal, {})
            leases.pop(connection, None)
            if not leases:
                _local.pop(principal, None)
        return
    try:
        wake.redis_client().zrem(KEY_PREFIX + principal, connection)
    except Exception as exc:
        logger.warning("stream slots: could not release a lease (%s); it lapses by itself", exc)
