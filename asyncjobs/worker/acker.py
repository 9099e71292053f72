"""Group commit of finished jobs: one script call records every job that finished while the
previous call was in flight. An idle worker records a job at once; a busy one, many a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from ..scripts import Finished, Scripts

MAX_BATCH = 200


@dataclass(slots=True)
class _Waiting:
    job: Finished
    done: anyio.Event = field(default_factory=anyio.Event)
    stored: bool = False
    error: BaseException | None = None


class Acker:
    def __init__(self, scripts: Scripts, processing: str) -> None:
        self._scripts = scripts
        self._processing = processing
        self._waiting: list[_Waiting] = []
        self._wake = anyio.Event()

    async def finish(self, job: Finished) -> bool:
        """Record one job's outcome with the next call; raises what that call raised."""
        waiting = _Waiting(job)
        self._waiting.append(waiting)
        self._wake.set()
        await waiting.done.wait()
        if waiting.error is not None:
            raise waiting.error
        return waiting.stored

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            if self._waiting:
                self._wake.set()
            try:
                flags = await self._scripts.finish(self._processing, [w.job for w in batch])
            except Exception as exc:  # each job's own caller decides whether to try again
                for waiting in batch:
                    waiting.error = exc
                    waiting.done.set()
                continue
            for waiting, stored in zip(batch, flags, strict=True):
                waiting.stored = stored
                waiting.done.set()
