"""asyncjobs with its defaults; the bulk API is ``Queue.enqueue_many`` (one round trip)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import time
from typing import Any

import redis.asyncio as aredis

import asyncjobs
from asyncjobs import Context, Job, JobStatus, Queue, Settings

queue = Queue("bench", os.environ["BENCH_REDIS_URL"])
quiet = Queue("bench-quiet", os.environ["BENCH_REDIS_URL"], settings=Settings(events=False))
"""The same tasks with no event stream (``benchmarks.workflows``)."""


@queue.task(name="noop")
async def noop() -> float:
    return time.time()


@queue.task(name="nap")
async def nap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return time.time()


@queue.task(name="send")
async def send(to: str, subject: str, n: int) -> None:
    return None


_client: aredis.Redis | None = None


@queue.task(name="lookup")
async def lookup(key: str) -> float:
    """W6: one Redis GET, on a client of the task's own."""
    global _client
    if _client is None:
        _client = aredis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    await _client.get(key)
    return time.time()


@queue.task(name="echo")
async def echo(blob: str) -> tuple[float, str]:
    """W7: a large argument, given back."""
    return time.time(), blob


@queue.task(name="inc")
async def inc(n: int) -> int:
    """A pipeline's step (``benchmarks.workflows``)."""
    return n + 1


@queue.task(name="stamp")
async def stamp(n: int) -> float:
    """A pipeline's last step: when it ran."""
    return time.time()


@queue.task(name="report")
async def report(ctx: Context, n: int) -> float:
    """Reports its progress ``n`` times: how fast a task can (``benchmarks.workflows``)."""
    began = time.perf_counter()
    for i in range(n):
        ctx.progress(i / n, "working")
    return n / (time.perf_counter() - began)


for task in (noop, nap, send):
    quiet.task(name=task.name)(task.fn)


class System:
    name = "asyncjobs"
    version = asyncjobs.__version__
    # the worker runs on uvloop when it is installed (the `uvloop` extra), else on asyncio's loop
    settings = (f"defaults ({'uvloop' if importlib.util.find_spec('uvloop') else 'asyncio'} "
                "event loop); worker `--concurrency N`; bulk: `enqueue_many`")
    bulk = True
    concurrent = True
    real_work = True

    async def open(self, url: str) -> None:
        pass

    async def reset(self) -> None:
        pass

    async def close(self) -> None:
        await queue.aclose()

    async def send(self, i: int) -> Job[None]:
        return await send.delay("a@example.com", "Welcome", i)

    async def send_many(self, ids: range) -> list[Job[None]]:
        return await queue.enqueue_many([send.call("a@example.com", "Welcome", i) for i in ids])

    async def enqueue(self, task: str, args: list[tuple[Any, ...]]) -> list[Job[Any]]:
        t = queue.tasks[task]
        if len(args) == 1:  # one job (W3): what `.delay()` does
            return [await queue.enqueue(t.call(*args[0]))]
        return await queue.enqueue_many([t.call(*a) for a in args])

    async def result(self, job: Job[float]) -> float | None:
        info = await job.info()
        if info is None or info.status is not JobStatus.COMPLETE:
            return None
        return await job.result()

    async def wait(self, job: Job[float]) -> float:
        return await job.result(timeout=30)

    def worker_argv(self, concurrency: int) -> list[str]:
        return [sys.executable, "-m", "asyncjobs", "worker", f"{__name__}:queue",
                "--concurrency", str(concurrency), "--log-level", "WARNING"]
