"""Push-based result waiting: one pub/sub connection per queue object serves every waiter.

A waiter registers itself, makes sure the subscription is confirmed, and only then checks the
stored outcome, so a completion published in between is never missed. After a reconnect every
waiter checks again, so nothing published during an outage is missed either. A notice that
carries the outcome (``<id> <body>``) answers its waiters without a read; a bare ``<id>`` makes
them check the store.

A producer that is about to enqueue a job can take a ``hint()``: a count of the notices read
and subscriptions made so far. If the count is unchanged when it starts waiting, no notice has
come since before the job was enqueued, so its notice is still to come and the first check is
skipped (it would only cost a round trip beside the starting job).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import NewType, TypeVar

from .connection import UNREACHABLE, Backoff
from .errors import ResultTimeout
from .protocol import split_notice

log: logging.Logger = logging.getLogger(__name__)
T = TypeVar("T")
WaitHint = NewType("WaitHint", int)
"""Opaque: what the waiter had seen when a job was enqueued (see ``ResultWaiter.hint``)."""


class _Waiting:
    """One waiter: woken by a notice for its job, with the notice's body when it had one."""

    __slots__ = ("body", "event")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.body: bytes | None = None


class ResultWaiter:
    def __init__(self, listen: Callable[[str], AsyncGenerator[bytes | None, None]], channel: str) -> None:
        """``listen``: ``Connection.listen``."""
        self._listen_to = listen
        self._channel = channel
        self._waiters: dict[str, set[_Waiting]] = {}
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._events = 0  # notices read and subscriptions made: see hint()

    def hint(self) -> WaitHint | None:
        """Take before enqueueing a job, pass to ``wait``; None while not subscribed."""
        return WaitHint(self._events) if self._ready.is_set() else None

    async def wait(
        self,
        job_id: str,
        check: Callable[[], Awaitable[T | None]],
        parse: Callable[[bytes], T],
        timeout: float | None,
        hint: WaitHint | None = None,
    ) -> T:
        """Return ``check()``'s first non-None answer, re-checking on each notice for ``job_id``;
        or ``parse(body)`` of the first notice that carries a body. ``hint``: see ``hint()``."""
        waiting = _Waiting()
        self._waiters.setdefault(job_id, set()).add(waiting)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._start()
                    await self._ready.wait()
                    if hint is None or hint != self._events:
                        found = await check()
                        if found is not None:
                            return found
                    hint = None
                    await waiting.event.wait()
                    if waiting.body is not None:
                        return parse(waiting.body)
                    waiting.event.clear()
        except TimeoutError:
            raise ResultTimeout(f"no result for job {job_id} within {timeout} s") from None
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(waiting)
                if not waiters:
                    del self._waiters[job_id]

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen())

    def _notice(self, data: bytes) -> None:
        self._events += 1
        job_id, body = split_notice(data)
        for waiting in self._waiters.get(job_id, ()):
            if body:
                waiting.body = body
            waiting.event.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for waiting in waiters:
                waiting.event.set()

    async def _listen(self) -> None:
        backoff = Backoff()
        while True:
            try:
                async with aclosing(self._listen_to(self._channel)) as messages:
                    async for data in messages:
                        if data is not None:
                            self._notice(data)
                        else:  # subscribed
                            self._events += 1
                            backoff.reset()
                            self._ready.set()
                            self._wake_all()
            except UNREACHABLE as exc:
                self._ready.clear()
                log.warning("result listener lost its connection (%s); reconnecting", exc)
            await backoff.wait()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
            self._ready.clear()
