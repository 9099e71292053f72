"""Group commit of finished jobs: one script call records every job that finished while the
previous call was in flight. An idle worker records a job at once; a busy one, many a round trip.

A job hands its outcome over and its runner goes on to the next job: the acker calls the job's
``done`` once the outcome is recorded (or given up on), and only then is the job's slot free
and its entry no longer held. When Redis cannot be reached, the acker calls again with backoff,
each job for up to ``RETRY_FOR`` seconds from its first failed call; the call is fenced (it
first removes the entry from our list), so a call whose reply was lost stores nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..connection import UNREACHABLE, Backoff
from ..scripts import Finished, Scripts

log: logging.Logger = logging.getLogger(__name__)

MAX_BATCH = 200
RETRY_FOR = 30.0
"""Seconds a finished job's outcome is tried again while Redis cannot be reached; then it stays
in our list, for reconcile or a reaper (the job runs again)."""

Done = Callable[[bool | None], None]
"""Told once how a job's outcome went: stored, not stored (already finished, or no longer ours),
or None when Redis could not be reached for ``RETRY_FOR`` seconds."""


@dataclass(slots=True)
class _Waiting:
    job: Finished
    done: Done
    give_up_at: float | None = None  # set on its first failed call


class Acker:
    def __init__(
        self, scripts: Scripts, processing: str, on_unreachable: Callable[[], None] | None = None
    ) -> None:
        """``on_unreachable`` is called for each failed call (metrics)."""
        self._scripts = scripts
        self._processing = processing
        self._on_unreachable = on_unreachable
        self._waiting: list[_Waiting] = []
        self._wake = asyncio.Event()

    def finish(self, job: Finished, done: Done) -> None:
        """Record one job's outcome with the next call; ``done`` is called once it is."""
        self._waiting.append(_Waiting(job, done))
        self._wake.set()

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            await self._wake.wait()
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            if not self._waiting:
                self._wake.clear()
            try:
                flags = await self._scripts.finish(self._processing, [w.job for w in batch])
            except UNREACHABLE as exc:
                self._failed(batch, exc)
                await backoff.wait()
                continue
            backoff.reset()
            for waiting, flag in zip(batch, flags, strict=True):
                waiting.done(flag)

    def _failed(self, batch: list[_Waiting], exc: Exception) -> None:
        """Keep the batch for the next call, first in line, but for the jobs tried long enough."""
        if self._on_unreachable is not None:
            self._on_unreachable()
        now = time.monotonic()
        kept = []
        for waiting in batch:
            if waiting.give_up_at is None:
                waiting.give_up_at = now + RETRY_FOR
            if now < waiting.give_up_at:
                kept.append(waiting)
                continue
            log.error("job %s: could not record its outcome: %s; it stays in our list",
                      waiting.job.job_id, exc)
            waiting.done(None)
        self._waiting[:0] = kept
        if self._waiting:
            self._wake.set()
