"""The app the benchmark's worker process serves."""

from __future__ import annotations

import asyncio
import os
import time

from asyncjobs import Queue

queue = Queue(os.environ.get("ASYNCJOBS_BENCH_QUEUE", "bench"),
              shards=int(os.environ.get("ASYNCJOBS_BENCH_SHARDS", "1")))


@queue.task(name="noop")
async def noop() -> None:
    return None


@queue.task(name="nap")
async def nap(seconds: float) -> None:
    await asyncio.sleep(seconds)


@queue.task(name="burn")
async def burn(ms: float) -> None:
    """Spend ``ms`` of this thread's CPU time, blocking the loop: a job whose cost is the
    worker's, not Redis's (``benchmarks.processes``)."""
    until = time.thread_time() + ms / 1000
    while time.thread_time() < until:
        pass


@queue.task(name="send")
async def send(to: str, subject: str, n: int) -> None:
    return None


# two more queues with the same tasks, for a worker over three queues (``benchmarks.multi``)
more = [Queue(f"{queue.name}-{i}") for i in (2, 3)]
second, third = more
for extra in more:
    for task in (noop, nap, burn, send):
        extra.task(name=task.name)(task.fn)
