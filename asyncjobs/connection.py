"""Redis clients built from a URL, with timeouts and retry rules fit for a job queue."""

from __future__ import annotations

import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import FullJitterBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

MAX_CONNECTIONS = 100
"""Connections a client opens at most; more concurrent commands wait for a free one."""


def async_client(url: str, *, socket_timeout: float | None, resend: bool) -> aredis.Redis:
    """An asyncio client.

    With ``resend``, a command whose connection failed is sent again (up to 3 times, after a
    short jittered backoff): for reads and for the steps that are idempotent (enqueue by job
    id, the fenced finish, promote, reap). Without it, callers see every connection error: the
    fetch client, since a re-sent BLMOVE whose first reply was lost would leave a job behind in
    the processing list unnoticed.
    """
    if resend:
        retry = AsyncRetry(FullJitterBackoff(cap=0.5, base=0.02), 3)
        errors: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError]
    else:
        retry, errors = AsyncRetry(NoBackoff(), 0), []
    pool = aredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=None,  # callers bound their own waits (enqueue_timeout, socket timeouts)
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout or 5.0,
        retry=retry,
        retry_on_error=errors,
    )
    return aredis.Redis.from_pool(pool)


def sync_client(url: str, *, socket_timeout: float) -> redis.Redis:
    """A blocking client, for the heartbeat thread."""
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 0),
    )
