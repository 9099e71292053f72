"""Reliable fetch: jobs move atomically from the queue into this worker's processing list.

With a backlog, one script call moves up to N jobs; on an empty queue one BLMOVE waits for the
next job, and ``start.lua``, pipelined right behind it, marks that job running in the same round
trip. The block timeout stays below the socket timeout and the client never re-sends a
command, so a lost BLMOVE reply cannot make a job vanish: it is in our own list.
"""

from __future__ import annotations

import time
from typing import cast

import redis.asyncio as aredis
from redis.exceptions import NoScriptError

from ..keys import QueueKeys
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

    async def fetch(self, n: int, *, block: bool) -> list[tuple[bytes, int]]:
        """Up to ``n`` (entry, attempt) pairs; waits up to the block timeout if ``block``."""
        jobs = await self._scripts.fetch(self._processing, n, time.time(), self._client)
        if jobs or not block:
            return jobs
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.blmove(
                self._keys.pending, self._processing, self._block_timeout, "RIGHT", "LEFT"  # type: ignore[arg-type]
            )
            self._scripts.start_after(pipe, self._processing, time.time())
            entry, attempt = await pipe.execute(raise_on_error=False)
        if isinstance(entry, Exception):
            raise entry
        if entry is None:
            return []
        if isinstance(attempt, NoScriptError):  # a restarted server: load the script, mark again
            attempt = await self._scripts.start(self._processing, time.time(), self._client)
        elif isinstance(attempt, Exception):
            raise attempt
        return [(cast("bytes", entry), int(attempt) or 1)]
