"""arq: one worker process, ``max_jobs`` = N, other settings default (the worker polls every 0.5 s).

arq has no bulk enqueue. Callers wait with ``job.result(poll_delay=0.005)``, its fastest polling.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job

SETTINGS = RedisSettings.from_dsn(os.environ["BENCH_REDIS_URL"])


async def noop(ctx: dict[str, Any]) -> float:
    return time.time()


async def nap(ctx: dict[str, Any], seconds: float) -> float:
    await asyncio.sleep(seconds)
    return time.time()


async def send(ctx: dict[str, Any], to: str, subject: str, n: int) -> None:
    return None


class WorkerSettings:
    functions = [noop, nap, send]
    redis_settings = SETTINGS
    max_jobs = int(os.environ.get("BENCH_CONCURRENCY", "10"))


class System:
    name = "arq"
    version = version("arq")
    settings = "`max_jobs=N`, default `poll_delay` 0.5 s; results read with `poll_delay=0.005`"
    bulk = False
    concurrent = True
    pool: ArqRedis

    async def open(self, url: str) -> None:
        self.pool = await create_pool(RedisSettings.from_dsn(url))

    async def reset(self) -> None:
        pass

    async def close(self) -> None:
        await self.pool.aclose()

    async def send(self, i: int) -> Job | None:
        return await self.pool.enqueue_job("send", "a@example.com", "Welcome", i)

    async def enqueue(self, task: str, args: list[tuple[Any, ...]]) -> list[Job | None]:
        return list(await asyncio.gather(*(self.pool.enqueue_job(task, *a) for a in args)))

    async def result(self, job: Job) -> float | None:
        info = await job.result_info()
        return None if info is None else info.result

    async def wait(self, job: Job) -> float:
        return await job.result(timeout=30, poll_delay=0.005)

    def worker_argv(self, concurrency: int) -> list[str]:
        return [str(Path(sys.executable).parent / "arq"), f"{__name__}.WorkerSettings"]
