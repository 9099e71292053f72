"""taskiq with taskiq-redis: ``RedisStreamBroker`` (acknowledged delivery, like asyncjobs) and
``RedisAsyncResultBackend``; one worker process, ``--max-async-tasks N``, other settings default.

taskiq has no bulk enqueue; callers wait with ``task.wait_result(check_interval=0.005)``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import redis.asyncio as aredis
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

URL = os.environ["BENCH_REDIS_URL"]
broker = RedisStreamBroker(URL, queue_name="bench").with_result_backend(RedisAsyncResultBackend(URL))


@broker.task(task_name="noop")
async def noop() -> float:
    return time.time()


@broker.task(task_name="nap")
async def nap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return time.time()


@broker.task(task_name="send")
async def send(to: str, subject: str, n: int) -> None:
    return None


_client: aredis.Redis | None = None


@broker.task(task_name="lookup")
async def lookup(key: str) -> float:
    global _client
    if _client is None:
        _client = aredis.Redis.from_url(URL)
    await _client.get(key)
    return time.time()


@broker.task(task_name="echo")
async def echo(blob: str) -> list[Any]:
    return [time.time(), blob]


TASKS = {"noop": noop, "nap": nap, "send": send, "lookup": lookup, "echo": echo}


class System:
    name = "taskiq"
    version = f"{version('taskiq')} + taskiq-redis {version('taskiq-redis')}"
    settings = "`RedisStreamBroker`, `RedisAsyncResultBackend`, `--workers 1 --max-async-tasks N`"
    bulk = False
    concurrent = True
    real_work = True

    async def open(self, url: str) -> None:
        await broker.startup()

    async def reset(self) -> None:
        await broker.startup()  # puts back the consumer group, created at "$" (new entries only)

    async def close(self) -> None:
        await broker.shutdown()

    async def send(self, i: int) -> Any:
        return await send.kiq("a@example.com", "Welcome", i)

    async def enqueue(self, task: str, args: list[tuple[Any, ...]]) -> list[Any]:
        return list(await asyncio.gather(*(TASKS[task].kiq(*a) for a in args)))

    async def result(self, task: Any) -> float | None:
        if not await task.is_ready():
            return None
        return (await task.get_result()).return_value

    async def wait(self, task: Any) -> float:
        return (await task.wait_result(check_interval=0.005, timeout=30)).return_value

    def worker_argv(self, concurrency: int) -> list[str]:
        return [str(Path(sys.executable).parent / "taskiq"), "worker", f"{__name__}:broker",
                "--workers", "1", "--max-async-tasks", str(concurrency), "--log-level", "WARNING"]
