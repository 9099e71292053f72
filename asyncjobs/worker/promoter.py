"""Moves due scheduled jobs (delayed jobs, retries) to the queue; every worker runs one.

``promote.lua`` moves them atomically and says when the next one is due, so the promoter
sleeps until then (at most ``MAX_WAIT`` seconds, to see jobs scheduled meanwhile; a job this
worker schedules for sooner, over its task's rate, wakes it earlier: ``due_at``).
"""

from __future__ import annotations

import logging
import math
import time

import anyio

from ..connection import UNREACHABLE, Backoff
from ..scripts import Scripts

log: logging.Logger = logging.getLogger(__name__)

MAX_WAIT = 0.25
BATCH = 1000


class Promoter:
    def __init__(self, scripts: Scripts) -> None:
        self._scripts = scripts
        self._wake_at = math.inf  # when the current sleep ends
        self._woken = anyio.Event()

    def due_at(self, due: float) -> None:
        """A job was scheduled for ``due`` (Unix time): promote it then, not later."""
        if due < self._wake_at:
            self._wake_at = due
            self._woken.set()

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                moved, next_due = await self._scripts.promote(time.time(), BATCH)
            except UNREACHABLE as exc:
                log.debug("promoter: %s", exc)
                await backoff.wait()
                continue
            backoff.reset()
            if moved == BATCH:
                continue
            wait = MAX_WAIT if next_due is None else min(MAX_WAIT, next_due - time.time())
            await self._sleep_until(time.time() + max(wait, 0.0))

    async def _sleep_until(self, wake_at: float) -> None:
        """Sleep until ``wake_at``, or the earlier time ``due_at`` asks for."""
        self._wake_at = wake_at
        while (left := self._wake_at - time.time()) > 0:
            self._woken = anyio.Event()
            with anyio.move_on_after(left):
                await self._woken.wait()
        self._wake_at = math.inf
