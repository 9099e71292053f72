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
