"""The app that subprocess workers in the tests serve.

The queue name comes from ``$ASYNCJOBS_TEST_QUEUE``; each execution appends one line to the
ledger file ``$ASYNCJOBS_TEST_LEDGER`` (one ``os.write`` of an O_APPEND file, so lines from
several processes never interleave).
"""

from __future__ import annotations

import os

import anyio

from asyncjobs import Context, Queue, Settings

queue = Queue(
    os.environ.get("ASYNCJOBS_TEST_QUEUE", "tests"),
    settings=Settings(heartbeat_interval=0.4, heartbeat_ttl=2.0, reaper_interval=0.5),
)
LEDGER = os.environ.get("ASYNCJOBS_TEST_LEDGER", os.devnull)


def record(line: str) -> None:
    fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


@queue.task(name="square")
async def square(ctx: Context, n: int) -> int:
    record(f"S {ctx.job_id} {os.getpid()}")
    return n * n


@queue.task(name="sleepy")
async def sleepy(ctx: Context, seconds: float) -> float:
    record(f"S {ctx.job_id} {os.getpid()}")
    await anyio.sleep(seconds)
    record(f"E {ctx.job_id} {os.getpid()}")
    return seconds


not_a_queue = object()
