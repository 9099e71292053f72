"""RQ: one ``SimpleWorker`` process (runs jobs in-process, without RQ's default fork per job).

RQ runs one job at a time per process and has no async support, so the concurrency workload
does not apply. The bulk API is ``Queue.enqueue_many`` (one pipeline); callers wait with
``job.latest_result(timeout)`` (a blocking stream read).
"""

from __future__ import annotations

import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job

queue = Queue("bench", connection=Redis.from_url(os.environ["BENCH_REDIS_URL"]))


def noop() -> float:
    return time.time()


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return time.time()


def send(to: str, subject: str, n: int) -> None:
    return None


TASKS = {"noop": noop, "nap": nap, "send": send}


class System:
    name = "rq"
    version = version("rq")
    settings = "`rq worker --worker-class rq.worker.SimpleWorker` (no fork per job); bulk: `enqueue_many`"
    bulk = True
    concurrent = False

    async def open(self, url: str) -> None:
        pass

    async def reset(self) -> None:
        pass

    async def close(self) -> None:
        queue.connection.close()

    async def send(self, i: int) -> Job:
        return queue.enqueue(send, "a@example.com", "Welcome", i)

    async def send_many(self, ids: range) -> list[Job]:
        return queue.enqueue_many([Queue.prepare_data(send, ("a@example.com", "Welcome", i)) for i in ids])

    async def enqueue(self, task: str, args: list[tuple[Any, ...]]) -> list[Job]:
        return queue.enqueue_many([Queue.prepare_data(TASKS[task], a) for a in args])

    async def result(self, job: Job) -> float | None:
        return job.return_value(refresh=True)

    async def wait(self, job: Job) -> float:
        result = job.latest_result(timeout=30)
        assert result is not None
        return result.return_value

    def worker_argv(self, concurrency: int) -> list[str]:
        return [str(Path(sys.executable).parent / "rq"), "worker", "bench", "--url",
                os.environ["BENCH_REDIS_URL"], "--worker-class", "rq.worker.SimpleWorker", "--quiet"]
