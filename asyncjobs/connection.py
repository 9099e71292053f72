"""Redis clients built from a URL, with timeouts fit for a job queue, and URL redaction."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aredis
from redis.backoff import NoBackoff
from redis.retry import Retry


def redact_url(url: str) -> str:
    """``redis://user:secret@host:port/db`` -> ``redis://user:***@host:port/db``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def async_client(url: str, *, socket_timeout: float | None) -> aredis.Redis:
    """An asyncio client that never re-sends a command by itself.

    A re-sent BLMOVE or LPUSH whose first reply was lost could move or enqueue a job twice,
    so callers see every connection error and decide what to do.
    """
    return aredis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout or 5.0,
        retry=Retry(NoBackoff(), 0),
    )


def sync_client(url: str, *, socket_timeout: float) -> redis.Redis:
    """A blocking client, for the heartbeat thread."""
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 0),
    )
