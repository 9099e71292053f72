"""Group commit of finished jobs: one script call records every job that finished while the
previous call was in flight. An idle worker records a job at once; a busy one, many a round trip.

A job hands its outcome over and its runner (and slot) goes on to the next job: the acker calls
the job's ``done`` once the outcome is recorded (or given up on), and only then is its entry no
longer held. When Redis cannot be reached, the acker calls again with backoff,
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
        self._sending = 0  # jobs of the call in flight
        self._wake = asyncio.Event()
        self._flushed: asyncio.Event | None = None  # set when none is pending, while awaited

    @property
    def pending(self) -> int:
        """Jobs whose outcome is handed over and not yet recorded (or given up on)."""
        return len(self._waiting) + self._sending

    def finish(self, job: Finished, done: Done) -> None:
        """Record one job's outcome with the next call; ``done`` is called once it is."""
        self._waiting.append(_Waiting(job, done))
        self._wake.set()

    async def flushed(self) -> None:
        """Return once every outcome handed over so far is recorded or given up on (at shutdown,
        so a job that finished is not put back and run again)."""
        while self.pending:
            if self._flushed is None:  # made only while someone waits: no Event a job
                self._flushed = asyncio.Event()
            await self._flushed.wait()

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            await self._wake.wait()
            # one turn of the loop first: the fetch loop, woken by the same jobs' slots, sends
            # its next fetch ahead of this call, so Redis hands out the next jobs before it
            # records these, and the worker runs them meanwhile (sent the other way round, the
            # worker waited for both: a no-op drain on uvloop took 32 µs a job, now 24)
            await asyncio.sleep(0)
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            if not self._waiting:
                self._wake.clear()
            self._sending = len(batch)
            failure: Exception | None = None
            try:
                flags = await self._scripts.finish(self._processing, [w.job for w in batch])
            except UNREACHABLE as exc:
                failure = exc
            finally:
                self._sending = 0
            if failure is not None:
                self._failed(batch, failure)
                await backoff.wait()
                continue
            backoff.reset()
            for waiting, flag in zip(batch, flags, strict=True):
                waiting.done(flag)
            self._check_flushed()

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
        self._check_flushed()

    def _check_flushed(self) -> None:
        if self._flushed is not None and not self.pending:
            self._flushed.set()
            self._flushed = None
