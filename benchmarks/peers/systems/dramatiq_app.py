"""Dramatiq: ``RedisBroker`` with the ``AsyncIO`` middleware for ``async def`` actors and the
``Results`` middleware on ``RedisBackend``; one process (``--processes 1 --threads N``).

Dramatiq has no bulk enqueue; callers wait with ``message.get_result(block=True)``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import dramatiq
import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.asyncio import AsyncIO
from dramatiq.results import ResultMissing, Results
from dramatiq.results.backends import RedisBackend

URL = os.environ["BENCH_REDIS_URL"]
# a connection a worker thread and some spare: redis-py bounds its pool at 100 by default
CONNECTIONS = 2 * int(os.environ.get("BENCH_CONCURRENCY", "8")) + 50
backend = RedisBackend(connection_pool=redis.ConnectionPool.from_url(URL, max_connections=CONNECTIONS))
broker = RedisBroker(connection_pool=redis.ConnectionPool.from_url(URL, max_connections=CONNECTIONS))
broker.add_middleware(AsyncIO())
broker.add_middleware(Results(backend=backend))
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="noop", queue_name="bench", store_results=True)
async def noop() -> float:
    return time.time()


@dramatiq.actor(actor_name="nap", queue_name="bench", store_results=True)
async def nap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return time.time()


@dramatiq.actor(actor_name="send", queue_name="bench", store_results=True)
async def send(to: str, subject: str, n: int) -> None:
    return None


TASKS = {"noop": noop, "nap": nap, "send": send}


class System:
    name = "dramatiq"
    version = version("dramatiq")
    settings = ("`RedisBroker`, `AsyncIO` + `Results(RedisBackend)`, `--processes 1 --threads N`, "
                "pools of 2N + 50 connections")
    bulk = False
    concurrent = True

    async def open(self, url: str) -> None:
        pass

    async def reset(self) -> None:
        pass

    async def close(self) -> None:
        broker.close()

    async def send(self, i: int) -> Message[Any]:
        return send.send("a@example.com", "Welcome", i)

    async def enqueue(self, task: str, args: list[tuple[Any, ...]]) -> list[Message[Any]]:
        return [TASKS[task].send(*a) for a in args]

    async def result(self, message: Message[Any]) -> float | None:
        try:
            return message.get_result(backend=backend)
        except ResultMissing:
            return None

    async def wait(self, message: Message[Any]) -> float:
        return message.get_result(backend=backend, block=True, timeout=30_000)

    def worker_argv(self, concurrency: int) -> list[str]:
        return [str(Path(sys.executable).parent / "dramatiq"), __name__, "--processes", "1",
                "--threads", str(concurrency)]
