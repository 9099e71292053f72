"""Celery with the Redis broker and result backend; one worker process on the gevent pool
(Celery's recommendation for I/O-bound work), ``-c N``, without gossip, mingle and heartbeat.

Celery has no bulk enqueue; callers wait with ``AsyncResult.get(timeout)`` (pub/sub).
"""

from __future__ import annotations

import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from celery import Celery
from celery.result import AsyncResult

URL = os.environ["BENCH_REDIS_URL"]
app = Celery("bench", broker=URL, backend=URL)
app.conf.broker_connection_retry_on_startup = True
app.conf.task_default_queue = "bench"


@app.task(name="noop")
def noop() -> float:
    return time.time()


@app.task(name="nap")
def nap(seconds: float) -> float:
    time.sleep(seconds)  # cooperative: the gevent pool patches time.sleep
    return time.time()


@app.task(name="send")
def send(to: str, subject: str, n: int) -> None:
    return None


TASKS = {"noop": noop, "nap": nap, "send": send}


class System:
    name = "celery"
    version = f"{version('celery')} (gevent {version('gevent')})"
    settings = ("Redis broker + result backend, `-P gevent -c N`, "
                "`--without-gossip --without-mingle --without-heartbeat`")
    bulk = False
    concurrent = True

    async def open(self, url: str) -> None:
        pass

    async def reset(self) -> None:
        pass

    async def close(self) -> None:
        app.close()

    async def send(self, i: int) -> AsyncResult:
        return send.delay("a@example.com", "Welcome", i)

    async def enqueue(self, task: str, args: list[tuple[Any, ...]]) -> list[AsyncResult]:
        return [TASKS[task].delay(*a) for a in args]

    async def result(self, result: AsyncResult) -> float | None:
        return result.result if result.ready() else None

    async def wait(self, result: AsyncResult) -> float:
        return result.get(timeout=30)

    def worker_argv(self, concurrency: int) -> list[str]:
        return [str(Path(sys.executable).parent / "celery"), "-A", __name__, "worker", "-P", "gevent",
                "-c", str(concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat",
                "-l", "WARNING"]
