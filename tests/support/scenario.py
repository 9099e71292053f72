"""One chaos scenario's state (its server, queue, worker supervisor and ledger) and the
progress checks its tests wait on.

Timings (see ``chaos_app.SETTINGS``): heartbeat every 0.4 s, TTL 2 s, reaper every 0.5 s, so the
redelivery bound N = TTL + reaper interval + 1 s = 3.5 s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from asyncjobs import Job, Queue

from . import chaos_app as app
from .invariants import dump
from .ledger import Ledger
from .servers import RedisProc
from .supervisor import Supervisor

N = 3.5


@dataclass
class Chaos:
    server: RedisProc
    queue: Queue
    supervisor: Supervisor
    ledger: Path
    env: dict[str, str]

    async def snapshot(self) -> str:
        """What each list holds and what the workers said, for a failed wait."""
        return await dump(self.queue, self.supervisor)

    def producer(self, url: str | None = None) -> Queue:
        """A Queue object with the app's tasks, talking to ``url`` (the server by default)."""
        queue = Queue(self.queue.name, url or self.server.url, settings=app.SETTINGS)
        for task in app.queue.tasks.values():
            queue.task(name=task.name, timeout=task.timeout, retries=task.retry.retries,
                       retry_backoff=task.retry.backoff, priority=task.priority,
                       max_concurrency=task.max_concurrency,
                       key_concurrency=task.key_concurrency,
                       rate_limit=task.rate_limit)(task.fn)
        return queue


async def enqueue(chaos: Chaos, task: str, args: list[tuple[object, ...]]) -> list[Job[object]]:
    t = chaos.queue.tasks[task]
    jobs: list[Job[object]] = []
    for start in range(0, len(args), 1000):
        jobs += await chaos.queue.enqueue_many([t.call(*a) for a in args[start:start + 1000]])
    return jobs


def started(chaos: Chaos) -> int:
    return Ledger.read(chaos.ledger).started()


async def completed(queue: Queue) -> int:
    """How many jobs have an outcome (complete, failed or dead)."""
    stats = await queue.inspect.stats()
    return stats.get("complete", 0) + stats.get("failed", 0) + stats.get("dead", 0)


async def at_least(queue: Queue, n: int) -> bool:
    return await completed(queue) >= n


def all_done(chaos: Chaos, n: int) -> Callable[[], Awaitable[bool]]:
    """A predicate: n jobs have an outcome (complete, failed or dead)."""

    async def check() -> bool:
        return await at_least(chaos.queue, n)
    return check
