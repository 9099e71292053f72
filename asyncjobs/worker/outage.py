"""How a worker reports that Redis is unreachable: one WARNING naming the server (its URL
without the password) as soon as a call fails, a reminder at most every ``REMIND`` seconds
while the outage lasts, and one line when Redis answers again. The worker keeps retrying."""

from __future__ import annotations

import logging
import time

from ..redact import redact_url

log: logging.Logger = logging.getLogger(__name__)

REMIND = 60.0


class OutageLog:
    def __init__(self, url: str, worker_id: str) -> None:
        self._url = redact_url(url)
        self._worker_id = worker_id
        self._since: float | None = None
        self._reported = 0.0

    def failed(self, exc: BaseException) -> None:
        """A call to Redis failed."""
        now = time.monotonic()
        if self._since is None:
            self._since = self._reported = now
            log.warning("worker %s: cannot reach Redis at %s (%s); retrying until it answers",
                        self._worker_id, self._url, exc)
        elif now - self._reported >= REMIND:
            self._reported = now
            log.warning("worker %s: Redis at %s still unreachable after %.0f s (%s); retrying",
                        self._worker_id, self._url, now - self._since, exc)

    def ok(self) -> None:
        """A call to Redis succeeded."""
        if self._since is not None:
            log.info("worker %s: Redis at %s answers again after %.1f s", self._worker_id,
                        self._url, time.monotonic() - self._since)
            self._since = None
