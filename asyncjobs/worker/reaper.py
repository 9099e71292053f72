"""Recovery of dead workers' jobs, run continuously by every worker.

A worker is dead when its heartbeat key has expired. ``reap.lua`` re-checks that atomically,
then moves the dead worker's whole processing list back to the queue. When a worker may reap
(not right after its own trouble) is the lease's rule, see ``lease.py``.
"""

from __future__ import annotations

import logging
import time
from typing import cast

import anyio
import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..config import Settings
from ..errors import ConfigError
from ..protocol import QueueKeys, check_worker_id
from ..scripts import Scripts
from .lease import Lease

log: logging.Logger = logging.getLogger(__name__)


class Reaper:
    def __init__(
        self,
        client: aredis.Redis,
        scripts: Scripts,
        keys: QueueKeys,
        worker_id: str,
        settings: Settings,
        lease: Lease,
    ) -> None:
        self._client = client
        self._lease = lease
        self._scripts = scripts
        self._keys = keys
        self._worker_id = worker_id
        self._interval = settings.reaper_interval

    async def run(self) -> None:
        while True:
            await anyio.sleep(self._interval)
            if not self._lease.may_reap():
                continue
            try:
                await self.reap_once()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.debug("worker %s: reaper lost Redis (%s)", self._worker_id, exc)
                self._lease.connection_lost()

    async def reap_once(self) -> int:
        """Recover the jobs of every registered worker whose heartbeat is gone; returns how
        many jobs went back to the queue."""
        others = []
        registered = cast("list[bytes]", await self._client.zrange(self._keys.workers, 0, -1))
        for raw in registered:
            worker = raw.decode(errors="replace")
            try:
                check_worker_id(worker)
            except ConfigError:
                log.warning("ignoring a malformed worker id in the registry: %r", worker)
                continue
            if worker != self._worker_id:
                others.append(worker)
        if not others:
            return 0
        async with self._client.pipeline(transaction=False) as pipe:
            for worker in others:
                pipe.exists(self._keys.heartbeat(worker))
            alive = await pipe.execute()
        total = 0
        for worker, is_alive in zip(others, alive, strict=True):
            if is_alive:
                continue
            recovered = await self._scripts.reap(worker, reaper=self._worker_id, now=time.time())
            if recovered is not None:
                requeued, dead = recovered
                total += requeued
                log.warning(
                    "worker %s: worker %s is dead; recovered %d jobs, dead-lettered %d",
                    self._worker_id, worker, requeued, dead,
                )
        return total
