"""What a worker runs for one of its queues, built in one place: the queue's scripts, this
worker's processing list in it, what the worker holds of that list, and the fetcher, executor,
acker, reaper and promoter of that queue. A worker serving several queues has one of these per
queue; they share the worker's connection, lease and thread limiter.
"""

from __future__ import annotations

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
from .executor import Executor
from .fetcher import Fetcher
from .lease import Held, Lease
from .promoter import Promoter
from .reaper import Reaper


class QueuePart:
    def __init__(
        self,
        queue: Queue,
        conn: Connection,
        fetch_client: aredis.Redis,
        lease: Lease,
        worker_id: str,
        thread_limiter: anyio.CapacityLimiter,
    ) -> None:
        self.queue: Queue = queue
        self.name: str = queue.name
        self.keys: QueueKeys = queue.keys
        self.settings: Settings = queue.settings
        keys, settings = self.keys, self.settings
        self.processing: str = keys.processing(worker_id)
        self.state: dict[str, Any] = {}
        """What this queue's startup hooks set up; its tasks see it as ``ctx.state``."""
        self.scripts: Scripts = Scripts(conn, keys, settings)
        scripts = self.scripts
        self.held: Held = lease.hold(scripts, self.processing)
        self.fetcher: Fetcher = Fetcher(
            fetch_client, scripts, keys, self.processing, settings.block_timeout
        )
        self.acker: Acker = Acker(scripts, self.processing)
        acker = self.acker
        self.executor: Executor = Executor(
            queue, scripts, acker, lease, processing=self.processing, worker_id=worker_id,
            state=self.state, thread_limiter=thread_limiter,
        )
        self.reaper: Reaper = Reaper(conn.redis, scripts, keys, worker_id, settings, lease)
        self.promoter: Promoter = Promoter(scripts)
        self.active: set[bytes] = set()  # entries whose task call is under way
        self.turns: dict[bytes, anyio.Event] = {}  # set when an active entry's run ends
        self.watching: bool = False  # a blocking fetch into our list is in flight

    def start_background(self, tg: TaskGroup) -> None:
        """The queue's loops that run beside the fetching, for the worker's whole life."""
        tg.start_soon(self.reaper.run)
        tg.start_soon(self.acker.run)
        tg.start_soon(self.promoter.run)
