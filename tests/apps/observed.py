"""The app of the metrics and JSON log tests: a task that completes, one that fails, one that
retries once. The queue name comes from ``$ASYNCJOBS_TEST_QUEUE``."""

from __future__ import annotations

import os

from asyncjobs import Context, Queue, Retry, Settings

queue = Queue(
    os.environ.get("ASYNCJOBS_TEST_QUEUE", "tests"),
    settings=Settings(heartbeat_interval=0.4, heartbeat_ttl=2.0, reaper_interval=0.5),
)


@queue.task(name="double")
async def double(n: int) -> int:
    return 2 * n


@queue.task(name="broken")
async def broken(n: int) -> int:
    raise ValueError(f"broken {n}")


@queue.task(name="again", retries=1)
async def again(ctx: Context) -> int:
    if ctx.attempt == 1:
        raise Retry(delay=0.01)
    return ctx.attempt
