"""streaQ: one worker process (``streaq run``), ``concurrency`` = N, other settings default.

The bulk API is ``Worker.enqueue_many`` (one pipeline). Callers wait with ``task.result(timeout)``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from streaq import Worker

worker = Worker(redis_url=os.environ["BENCH_REDIS_URL"], queue_name="bench",
                concurrency=int(os.environ.get("BENCH_CONCURRENCY", "16")))


@worker.task(name="noop", silent=True)
async def noop() -> float:
    return time.time()


@worker.task(name="nap", silent=True)
async def nap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return time.time()


@worker.task(name="send", silent=True)
async def send(to: str, subject: str, n: int) -> None:
    return None


TASKS = {"noop": noop, "nap": nap, "send": send}


class System:
    name = "streaq"
    version = version("streaq")
    settings = "`concurrency=N`, tasks `silent=True` (no log line per job), other settings default"
    bulk = True
    concurrent = True

    async def open(self, url: str) -> None:
        await worker.__aenter__()

    async def reset(self) -> None:
        pass

    async def close(self) -> None:
        await worker.__aexit__(None, None, None)

    async def send(self, i: int) -> Any:
        return await send.enqueue("a@example.com", "Welcome", i)

    async def send_many(self, ids: range) -> list[Any]:
        tasks = [send.enqueue("a@example.com", "Welcome", i) for i in ids]
        await worker.enqueue_many(tasks)
        return tasks

    async def enqueue(self, task: str, args: list[tuple[Any, ...]]) -> list[Any]:
        tasks = [TASKS[task].enqueue(*a) for a in args]
        await worker.enqueue_many(tasks)
        return tasks

    async def result(self, task: Any) -> float | None:
        # the stored result, read as ``Worker.result_by_id`` reads it, without its pub/sub wait
        raw = await worker.redis.get(worker.results_key + task.id)
        return None if raw is None else (await worker.deserialize(raw))["r"]

    async def wait(self, task: Any) -> float:
        return (await task.result(timeout=30)).result

    def worker_argv(self, concurrency: int) -> list[str]:
        return [str(Path(sys.executable).parent / "streaq"), "run", f"{__name__}:worker"]
