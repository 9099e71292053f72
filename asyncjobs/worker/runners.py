"""The worker's job runners: tasks of the worker's task group that each run fetched jobs one
after the other, started as jobs need them (up to the worker's concurrency) and kept. A job costs
a hand-off through a queue, not a task of its own (with anyio, a task handle and a cancel scope
each, the largest share of a no-op job's CPU).

Each job still runs in a copy of the context of its own, as a task of its own would (every step
of it, through ``in_context``): a context variable that one job sets is never seen by the next.
Cancellation is the task group's, as before: a job runs in a task of the group.
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

from anyio.abc import TaskGroup

T = TypeVar("T")


@types.coroutine
def in_context(coro: Coroutine[Any, Any, T], context: contextvars.Context) -> Generator[Any, Any, T]:
    """Await ``coro`` with each of its steps run in ``context``, as a task of its own runs
    its coroutine: what it yields goes to the event loop, and what the loop sends or throws
    (a cancellation) goes back into it."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            if error is None:
                yielded = context.run(coro.send, value)
            else:
                thrown, error = error, None
                yielded = context.run(coro.throw, thrown)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        try:
            value = yield yielded
        except BaseException as exc:  # a cancellation, or this wrapper closed: into the job
            value, error = None, exc


Job = tuple[Any, ...]


class Runners:
    def __init__(self, limit: int, group: TaskGroup,
                 run: Callable[..., Coroutine[Any, Any, None]]) -> None:
        """At most ``limit`` runners, in ``group``; each job is ``run(*job)``."""
        self._limit = limit
        self._group = group
        self._run = run
        self._inbox: asyncio.Queue[Job] = asyncio.Queue()
        self._started = 0
        self._idle = 0  # runners waiting for a job, or started and not yet waiting

    def start(self, *job: Any) -> None:
        """Run ``job`` in the next free runner; a new one when every runner has a job."""
        self._inbox.put_nowait(job)
        if self._inbox.qsize() > self._idle and self._started < self._limit:
            self._started += 1
            self._idle += 1
            self._group.start_soon(self._runner)

    async def _runner(self) -> None:
        inbox, run = self._inbox, self._run
        while True:
            job = await inbox.get()
            self._idle -= 1
            await in_context(run(*job), contextvars.copy_context())
            self._idle += 1
