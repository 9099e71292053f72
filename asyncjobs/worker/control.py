"""A worker's ear on a queue's control channel (``protocol.Control``): it stops running jobs
that are cancelled and tells the worker when the queue is resumed.

Pub/sub drops messages sent while the connection is down, so after each (re)subscription the
worker reads the state those messages announce: every running job's record (a cancelled one
is stopped) and, through the fetch loop's next attempt, the pause flag.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing
from typing import Protocol

import redis.asyncio as aredis

from ..connection import UNREACHABLE, Backoff
from ..protocol import Control, Field, JobState, QueueKeys

log: logging.Logger = logging.getLogger(__name__)


class Cancellable(Protocol):
    """What the control listener needs from the executor."""

    def running_ids(self) -> Iterable[str]: ...

    def cancel(self, job_id: str) -> bool: ...


class ControlListener:
    def __init__(
        self,
        listen: Callable[[str], AsyncGenerator[bytes | None, None]],
        redis: aredis.Redis,
        keys: QueueKeys,
        jobs: Cancellable,
        *,
        on_resume: Callable[[], None],
    ) -> None:
        """``on_resume`` is called on a resume message, and after each (re)subscription (a
        resume may have been missed: the worker checks the queue again). ``listen``:
        ``Connection.listen``."""
        self._listen = listen
        self._redis = redis
        self._keys = keys
        self._jobs = jobs
        self._on_resume = on_resume

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                async with aclosing(self._listen(self._keys.control)) as messages:
                    async for data in messages:
                        if data is not None:
                            self._handle(data)
                        else:  # subscribed
                            backoff.reset()
                            self._on_resume()
                            await self._cancel_cancelled()
            except UNREACHABLE as exc:
                log.debug("control listener lost its connection (%s); reconnecting", exc)
            await backoff.wait()

    def _handle(self, data: bytes) -> None:
        kind, _, job_id = data.decode().partition(" ")
        if kind == Control.CANCEL:
            if self._jobs.cancel(job_id):
                log.info("job %s: cancelled while running; stopping it", job_id)
        elif kind == Control.RESUME:
            self._on_resume()

    async def _cancel_cancelled(self) -> None:
        """Stop every running job whose record says it was cancelled (a message may have been
        missed while the connection was down)."""
        ids = list(self._jobs.running_ids())
        if not ids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(self._keys.job(job_id), Field.STATE)
            states = await pipe.execute()
        for job_id, state in zip(ids, states, strict=True):
            if state == JobState.CANCELLED.value.encode():
                self._handle(f"{Control.CANCEL.value} {job_id}".encode())
