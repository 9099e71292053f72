"""The worker's job runners: tasks of the worker's task group that each run fetched jobs one
after the other, started as jobs need them (up to the worker's concurrency) and kept. A job costs
a hand-off, not a task of its own (with anyio, a task handle and a cancel scope each, the largest
share of a no-op job's CPU), and jobs that never wait cost no wake-up each (see ``_runner``).

Each job still runs in a copy of the context of its own, as a task of its own would (every step
of it, through ``in_context``): a context variable that one job sets is never seen by the next.
Cancellation is the task group's, as before: a job runs in a task of the group.
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from collections import deque
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
        self._jobs: deque[Job] = deque()
        self._idle: list[asyncio.Future[None]] = []  # runners waiting for a job
        self._woken = 0  # runners woken (or started) that have not run yet
        self._started = 0

    def start(self, *job: Any) -> None:
        """Run ``job`` in the next free runner; a new one when every runner has a job."""
        self._jobs.append(job)
        if not self._woken:
            self._wake(1)

    def _wake(self, n: int) -> None:
        """Wake up to ``n`` idle runners, or start them while under the limit."""
        while n and self._idle:
            waiter = self._idle.pop()
            if not waiter.done():  # else cancelled with its runner
                waiter.set_result(None)
                self._woken += 1
                n -= 1
        while n and self._started < self._limit:
            self._group.start_soon(self._runner)
            self._started += 1
            self._woken += 1
            n -= 1

    async def _runner(self) -> None:
        """Woken, a runner wakes two more if jobs are left after it took one, then runs jobs
        until none is left: jobs that wait all start within a few turns of the loop (the runners
        woken double each turn), and jobs that never wait run one after the other in one
        runner's turn, not each in a runner woken for it."""
        jobs, run, idle = self._jobs, self._run, self._idle
        loop = asyncio.get_running_loop()
        while True:
            self._woken -= 1
            woke_others = False
            while jobs:
                job = jobs.popleft()
                if not woke_others:
                    self._wake(min(2, len(jobs)))
                    woke_others = True
                await in_context(run(*job), contextvars.copy_context())
            waiter = loop.create_future()
            idle.append(waiter)
            await waiter
