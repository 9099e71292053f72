"""A worker's start-up check of the server's durability settings."""

from __future__ import annotations

import logging

import redis.asyncio as aredis
from redis.exceptions import RedisError

log: logging.Logger = logging.getLogger(__name__)


async def warn_about_durability(client: aredis.Redis) -> None:
    """Warn once when the server may lose or evict jobs: AOF off, or an eviction policy.

    Skipped quietly when the server does not allow CONFIG (an ACL user, a managed service).
    """
    try:
        appendonly = await client.config_get("appendonly")
        policy = await client.config_get("maxmemory-policy")
    except (RedisError, OSError) as exc:
        log.debug("cannot read the server's persistence settings: %s", exc)
        return
    if appendonly.get("appendonly") != "yes":
        log.warning(
            "Redis runs with appendonly no: jobs enqueued since the last snapshot are lost if "
            "the server stops; set appendonly yes for a job queue"
        )
    eviction = policy.get("maxmemory-policy", "noeviction")
    if eviction != "noeviction":
        log.warning(
            "Redis runs with maxmemory-policy %s: it may evict queued jobs; set noeviction",
            eviction,
        )
