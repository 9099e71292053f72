"""An app to kill while it holds jobs: its heartbeat timings come from
``$ASYNCJOBS_TEST_TIMINGS`` ("interval ttl reaper_interval"), and its one task holds its job
for a minute."""

from __future__ import annotations

import os

import anyio

from asyncjobs import Queue, Settings

interval, ttl, reaper = map(float, os.environ.get("ASYNCJOBS_TEST_TIMINGS", "0.4 2 0.5").split())
queue = Queue(
    os.environ.get("ASYNCJOBS_TEST_QUEUE", "tests"),
    settings=Settings(heartbeat_interval=interval, heartbeat_ttl=ttl, reaper_interval=reaper),
)


@queue.task(name="hold")
async def hold(n: int) -> int:
    await anyio.sleep(60)
    return n
