"""Group commit of finished jobs: one script call records every job that finished while the
previous call was in flight. An idle worker records a job at once; a busy one, many a round trip.

Waiters are plain asyncio futures (the client is redis.asyncio, so the loop is asyncio's): far
cheaper than an Event a job.
"""

from __future__ import annotations

import asyncio

from ..scripts import Finished, Scripts

MAX_BATCH = 200


class Acker:
    def __init__(self, scripts: Scripts, processing: str) -> None:
        self._scripts = scripts
        self._processing = processing
        self._waiting: list[tuple[Finished, asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()

    async def finish(self, job: Finished) -> bool:
        """Record one job's outcome with the next call; raises what that call raised."""
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, stored))
        self._wake.set()
        return await stored

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            if not self._waiting:
                self._wake.clear()
            try:
                flags = await self._scripts.finish(self._processing, [job for job, _ in batch])
            except Exception as exc:  # each job's own caller decides whether to try again
                for _, stored in batch:
                    if not stored.done():  # its caller may have been cancelled meanwhile
                        stored.set_exception(exc)
                continue
            for (_, stored), flag in zip(batch, flags, strict=True):
                if not stored.done():
                    stored.set_result(flag)
