"""Moves due scheduled jobs (delayed jobs, retries) to the queue; every worker runs one.

``promote.lua`` moves them atomically and says when the next one is due, so the promoter
sleeps until then (at most ``MAX_WAIT`` seconds, to see jobs scheduled meanwhile).
"""

from __future__ import annotations

import logging
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
            await anyio.sleep(max(wait, 0.0))
