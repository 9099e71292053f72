"""How many jobs a worker may fetch. ``concurrency`` of them run at once; while its jobs end
fast, the worker also fetches ahead, so the next jobs are on their way from Redis while these run
instead of after them.

Fetched ahead: about ``AHEAD_FOR`` seconds of jobs at the pace they have been ending (read every
``PACE_EVERY`` seconds, each reading halfway between the last one and the last window's), at most
the concurrency. Such a job is taken (moved into the worker's list and marked started, as every
fetched job) and waits in the worker for a free runner, about that long. Once jobs take seconds,
nothing is fetched ahead within a few windows: no job waits in a busy worker behind slow ones
while another worker is idle. A stop puts back the jobs that have not started.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio

AHEAD_FOR = 0.005
PACE_EVERY = 0.05


class Slots:
    def __init__(self, concurrency: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._concurrency = concurrency
        self._clock = clock
        self._ahead = 0
        self._rate = 0.0  # jobs ended a second, averaged over the last windows
        self._held = 0  # taken: being fetched, or fetched and not yet ended
        self._ended = 0  # since _since
        self._since = clock()
        self._freed: anyio.Event | None = None  # made only while acquire waits

    async def acquire(self, at_most: int = 1) -> int:
        """Wait until a job may be fetched, then take as many as may be, up to ``at_most``."""
        while True:
            self._pace()
            room = self._concurrency + self._ahead - self._held
            if room > 0:
                taken = min(room, at_most)
                self._held += taken
                return taken
            if self._freed is None:
                self._freed = anyio.Event()
            await self._freed.wait()

    def release(self, n: int = 1) -> None:
        """Give back ``n`` taken: not used by a fetch, or their jobs not run."""
        self._held -= n
        if self._freed is not None:
            self._freed.set()
            self._freed = None

    def ended(self) -> None:
        """A job's code has ended: its slot is free, and it counts toward the pace."""
        self._ended += 1
        self.release()

    def _pace(self) -> None:
        now = self._clock()
        if now - self._since >= PACE_EVERY:
            # halfway to this window's pace: a few slow windows take the ahead back
            self._rate = (self._rate + self._ended / (now - self._since)) / 2
            self._ahead = min(self._concurrency, int(self._rate * AHEAD_FOR))
            self._ended, self._since = 0, now
