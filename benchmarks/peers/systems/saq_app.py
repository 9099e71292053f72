"""SAQ: one worker process (``saq ... --workers 1``), ``concurrency`` = N, other settings default.

SAQ has no bulk enqueue; callers wait with ``job.refresh(until_complete=...)`` (pub/sub), in
waits of 0.1 s at most (see ``wait``).

A SAQ worker sweeps the moment it starts, and that sweep aborts a job it dequeues in the same
instant as "swept" (saq issue #277). A deployed queue rarely meets it: the sweep lock a worker
sets lasts 60 s. After each flush, ``reset`` puts that lock back, as a running deployment has it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from saq import Job, Status
from saq.job import TERMINAL_STATUSES
from saq.queue.redis import RedisQueue

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "10"))
# SAQ holds several connections a running job; redis-py bounds its pool at 100 by default
queue = RedisQueue(
    Redis.from_url(os.environ["BENCH_REDIS_URL"], max_connections=4 * CONCURRENCY + 100), name="bench"
)
PARAMETERS = {"noop": (), "nap": ("seconds",), "send": ("to", "subject", "n"), "lookup": ("name",),
              "echo": ("blob",)}


async def noop(ctx: dict[str, Any]) -> float:
    return time.time()


async def nap(ctx: dict[str, Any], *, seconds: float) -> float:
    await asyncio.sleep(seconds)
    return time.time()


async def send(ctx: dict[str, Any], *, to: str, subject: str, n: int) -> None:
    return None


async def lookup(ctx: dict[str, Any], *, name: str) -> float:
    # the key's name is not passed as `key`: that would be the SAQ job's own key
    await queue.redis.get(name)
    return time.time()


async def echo(ctx: dict[str, Any], *, blob: str) -> list[Any]:
    return [time.time(), blob]


settings = {
    "queue": queue,
    "functions": [noop, nap, send, lookup, echo],
    "concurrency": CONCURRENCY,
}


class System:
    name = "saq"
    version = version("saq")
    settings = ("`--workers 1`, `concurrency=N`, a pool of 4N + 100 connections, the sweep lock "
                "set after each flush (as a running deployment has it), other settings default")
    bulk = False
    concurrent = True
    real_work = True

    async def open(self, url: str) -> None:
        await queue.connect()

    async def reset(self) -> None:
        await queue.redis.set(queue.namespace("sweep"), 1, ex=60)

    async def close(self) -> None:
        await queue.disconnect()

    async def send(self, i: int) -> Job | None:
        return await queue.enqueue("send", to="a@example.com", subject="Welcome", n=i)

    async def enqueue(self, task: str, args: list[tuple[Any, ...]]) -> list[Job | None]:
        names = PARAMETERS[task]
        calls = [queue.enqueue(task, **dict(zip(names, a, strict=True))) for a in args]
        return list(await asyncio.gather(*calls))

    async def result(self, job: Job) -> float | None:
        await job.refresh()
        if job.status in TERMINAL_STATUSES and job.status is not Status.COMPLETE:
            raise RuntimeError(f"SAQ ended job {job.key} as {job.status}: {job.error}")
        return job.result if job.completed else None

    async def wait(self, job: Job) -> float:
        # refresh(until_complete=T) misses a completion that lands between its read of the job
        # and its subscription, then sleeps all of T: short waits, each starting with a read
        deadline = time.monotonic() + 30
        while (value := await self.result(job)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"SAQ job {job.key} not complete after 30 s")
            try:
                await job.refresh(until_complete=0.1)
            except TimeoutError:
                pass
        return value

    def worker_argv(self, concurrency: int) -> list[str]:
        return [str(Path(sys.executable).parent / "saq"), f"{__name__}.settings", "--workers", "1", "--quiet"]
