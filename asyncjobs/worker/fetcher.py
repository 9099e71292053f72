"""Reliable fetch: jobs move atomically from the queue into this worker's processing list.

With a backlog, one script call moves up to N jobs; on an empty queue one BLMOVE waits for the
next job. The block timeout stays below the socket timeout and the client never re-sends a
command, so a lost BLMOVE reply cannot make a job vanish: it is in our own list.

A worker serving several queues fetches from each without blocking, and when all are empty
waits on each queue's ``wait()`` at once (see ``worker.py``).
"""

from __future__ import annotations

from typing import cast

import redis.asyncio as aredis

from ..protocol import QueueKeys
from ..scripts import Scripts


class Fetcher:
    def __init__(
        self,
        client: aredis.Redis,
        scripts: Scripts,
        keys: QueueKeys,
        processing: str,
        block_timeout: float,
    ) -> None:
        self._client = client
        self._scripts = scripts
        self._keys = keys
        self._processing = processing
        self._block_timeout = block_timeout

    async def fetch(self, n: int, *, block: bool) -> list[tuple[bytes, int]] | None:
        """Up to ``n`` (entry, attempt) pairs; waits up to the block timeout if ``block``.
        None while the queue is paused."""
        jobs = await self._scripts.fetch(self._processing, n, self._client)
        if jobs is None or jobs or not block:
            return jobs
        return await self.wait()

    async def wait(self) -> list[tuple[bytes, int]] | None:
        """One BLMOVE: the next job as one (entry, attempt) pair, or none after the block
        timeout; None when the queue turned out to be paused."""
        reply = await self._client.blmove(
            self._keys.pending, self._processing, self._block_timeout, "RIGHT", "LEFT"  # type: ignore[arg-type]
        )
        entry = cast("bytes | None", reply)
        if entry is None:
            return []
        started = await self._scripts.start(self._processing, entry, self._client)
        if started is None:
            return None
        entry, attempt = started
        return [(entry, attempt)] if attempt else []  # 0: nothing to run (see start.lua)

    async def waiting(self) -> bool:
        """Whether a job waits in the queue (a burst worker checks before it exits)."""
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.llen(self._keys.pending)
            pipe.zcard(self._keys.prioritized)
            listed, prioritized = await pipe.execute()
        return bool(listed or prioritized)

    async def next_due(self) -> float | None:
        """When the earliest scheduled job (a delayed job, a retry) is due; None if there is none."""
        first = cast("list[tuple[bytes, float]]", await self._client.zrange(
            self._keys.scheduled, 0, 0, withscores=True))
        return first[0][1] if first else None
