"""What a worker runs for one of its queues, built in one place: the queue's scripts, this
worker's processing list in it, what the worker holds of that list, and the fetcher, executor,
acker, reaper, promoter, scheduler and control listener of that queue. A worker serving
several queues has one of these per queue; they share the worker's connection, lease and
thread limiter.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import anyio
import redis.asyncio as aredis
from anyio.abc import TaskGroup

from ..config import Settings
from ..connection import Connection
from ..protocol import QueueKeys
from ..queue import Queue
from ..scripts import Scripts
from .acker import Acker
from .control import ControlListener
from .executor import Executor
from .fetcher import Fetcher
from .journal import Journal
from .lease import Held, Lease
from .observer import JobObserver
from .promoter import Promoter
from .reaper import Reaper
from .scheduler import Scheduler

PAUSED_RECHECK = 1.0
"""Seconds between checks of a paused queue, should a resume message be missed."""


class QueuePart:
    def __init__(
        self,
        queue: Queue,
        conn: Connection,
        fetch_client: aredis.Redis,
        lease: Lease,
        worker_id: str,
        thread_limiter: anyio.CapacityLimiter,
        wake: Callable[[], None],
        state: dict[str, Any],
        observer: JobObserver | None = None,
    ) -> None:
        """``wake`` is called when the queue is resumed (the worker then fetches again);
        ``state`` is what the queue's startup hooks set up (shared by the shards of a queue)."""
        self.queue: Queue = queue
        self.name: str = queue.name
        self.keys: QueueKeys = queue.keys
        self.settings: Settings = queue.settings
        keys, settings = self.keys, self.settings
        self.processing: str = keys.processing(worker_id)
        self.state: dict[str, Any] = state
        """What this queue's startup hooks set up; its tasks see it as ``ctx.state``."""
        self.scripts: Scripts = Scripts(conn, keys, settings)
        scripts = self.scripts
        self.lease: Lease = lease
        self.held: Held = lease.hold(scripts, self.processing)
        self.fetcher: Fetcher = Fetcher(
            fetch_client, scripts, keys, self.processing, settings.block_timeout
        )
        self.acker: Acker = Acker(scripts, self.processing, None if observer is None else
                                  functools.partial(observer.redis_error, queue.origin.name, "finish"))
        acker = self.acker
        self.journal: Journal = Journal(scripts)
        self.executor: Executor = Executor(
            queue, scripts, acker, lease, self.journal, processing=self.processing,
            worker_id=worker_id, state=self.state, thread_limiter=thread_limiter,
            observer=observer,
        )
        self.reaper: Reaper = Reaper(conn.redis, scripts, keys, worker_id, settings, lease)
        self.promoter: Promoter = Promoter(scripts)
        scripts.on_reserved = self.promoter.due_at
        self.scheduler: Scheduler = Scheduler(queue, scripts, conn.redis)
        self.active: set[bytes] = set()  # entries whose task call is under way
        self.turns: dict[bytes, anyio.Event] = {}  # set when an active entry's run ends
        self.watching: bool = False  # a blocking fetch into our list is in flight
        self.control: ControlListener = ControlListener(
            conn.listen, conn.redis, keys, self.executor, on_resume=self._resumed)
        self._wake = wake
        self._paused_until = 0.0  # monotonic time until which the queue is taken as paused

    @property
    def paused(self) -> bool:
        """The queue was found paused, and no resume was heard since, nor ``PAUSED_RECHECK``
        seconds passed (then a fetch checks again, should a resume message be missed)."""
        return time.monotonic() < self._paused_until

    def saw_pause(self) -> None:
        self._paused_until = time.monotonic() + PAUSED_RECHECK

    def recheck_in(self) -> float:
        """Seconds until a paused queue is checked again (0 when it is not paused)."""
        return max(0.0, self._paused_until - time.monotonic())

    def _resumed(self) -> None:
        self._paused_until = 0.0
        self._wake()

    def start_background(self, tg: TaskGroup) -> None:
        """The queue's loops that run beside the fetching, for the worker's whole life."""
        tg.start_soon(self.control.run)
        tg.start_soon(self.reaper.run)
        tg.start_soon(self.acker.run)
        tg.start_soon(self.journal.run)
        tg.start_soon(self.promoter.run)
        tg.start_soon(self.scheduler.run)
