"""The app the benchmark's worker process serves."""

from __future__ import annotations

import asyncio
import os

from asyncjobs import Queue

queue = Queue(os.environ.get("ASYNCJOBS_BENCH_QUEUE", "bench"))


@queue.task(name="noop")
async def noop() -> None:
    return None


@queue.task(name="nap")
async def nap(seconds: float) -> None:
    await asyncio.sleep(seconds)


@queue.task(name="send")
async def send(to: str, subject: str, n: int) -> None:
    return None


# two more queues with the same tasks, for a worker over three queues (``benchmarks.multi``)
more = [Queue(f"{queue.name}-{i}") for i in (2, 3)]
second, third = more
for extra in more:
    for task in (noop, nap, send):
        extra.task(name=task.name)(task.fn)
