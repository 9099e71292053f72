"""The app chaos workers serve. Every execution is written to a per-process ledger.

Ledger lines: ``S <job> <pid> <attempt> <time>`` when a run starts, ``E <job> <pid> <time>``
when it ends (before the outcome is recorded). One file per process, opened O_APPEND and
written with one ``os.write`` per line, so lines are whole and survive any Redis fault.
"""

from __future__ import annotations

import os
import signal
import time

import anyio

from asyncjobs import Context, Queue, Settings

SETTINGS = Settings(
    heartbeat_interval=0.4, heartbeat_ttl=2.0, reaper_interval=0.5, enqueue_timeout=5.0
)
queue = Queue(os.environ.get("ASYNCJOBS_CHAOS_QUEUE", "chaos"), settings=SETTINGS)

_ledger_fd: int | None = None


def _write(line: str) -> None:
    global _ledger_fd
    if _ledger_fd is None:
        folder = os.environ.get("ASYNCJOBS_CHAOS_LEDGER", "")
        path = os.path.join(folder, f"{os.getpid()}.log") if folder else os.devnull
        _ledger_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_ledger_fd, line.encode())


def started(ctx: Context) -> None:
    _write(f"S {ctx.job_id} {os.getpid()} {ctx.attempt} {time.time():.6f}\n")


def ended(ctx: Context) -> None:
    _write(f"E {ctx.job_id} {os.getpid()} {time.time():.6f}\n")


@queue.task(name="work")
async def work(ctx: Context, ms: int) -> int:
    started(ctx)
    if ms:
        await anyio.sleep(ms / 1000)
    ended(ctx)
    return ms


second = Queue(f"{queue.name}-2", settings=SETTINGS)
"""A second queue, for workers serving two (``SECOND``); its ``work`` is the first's."""
second.task(name="work")(work.fn)

sharded = Queue(f"{queue.name}-sharded", settings=SETTINGS, shards=3)
"""A queue of three shards, for workers serving one (``SHARDED``); its ``work`` is the first's."""
sharded.task(name="work")(work.fn)


@queue.task(name="crash")
async def crash(ctx: Context) -> None:
    started(ctx)
    os.kill(os.getpid(), signal.SIGKILL)


@queue.task(name="block")
async def block(ctx: Context, seconds: float) -> str:
    started(ctx)
    time.sleep(seconds)  # noqa: ASYNC251  # blocks the loop: the heartbeat thread keeps us alive
    ended(ctx)
    return "blocked"


@queue.task(name="boom", retries=2, retry_backoff=0.01)
async def boom(ctx: Context, n: int) -> None:
    started(ctx)
    ended(ctx)
    raise ValueError(f"boom {n}")


@queue.task(name="slow", timeout=0.2)
async def slow(ctx: Context) -> None:
    started(ctx)
    await anyio.sleep(5)


@queue.task(name="big")
async def big(ctx: Context) -> bytes:
    started(ctx)
    ended(ctx)
    return b"x" * (2 << 20)


@queue.task(name="limited", max_concurrency=3)
async def limited(ctx: Context, ms: int) -> int:
    started(ctx)
    try:
        await anyio.sleep(ms / 1000)
    finally:  # a run the fence cancels ends there too: it runs no more
        ended(ctx)
    return ms


@queue.task(name="rated", rate_limit="200/s")
async def rated(ctx: Context) -> None:
    started(ctx)
    ended(ctx)


@queue.task(name="keyed", key_concurrency=1)
async def keyed(ctx: Context, ms: int) -> int:
    started(ctx)
    try:
        await anyio.sleep(ms / 1000)
    finally:  # a run the fence cancels ends there too: it runs no more
        ended(ctx)
    return ms


@queue.task(name="fetch_step")
async def fetch_step(ctx: Context, n: int) -> int:
    started(ctx)
    ended(ctx)
    return n + 1


@queue.task(name="slow_step")
async def slow_step(ctx: Context, n: int, ms: int) -> int:
    """A pipeline's middle step, long enough to be killed in."""
    started(ctx)
    await anyio.sleep(ms / 1000)
    ended(ctx)
    return n * 10


@queue.task(name="last_step")
async def last_step(ctx: Context, n: int) -> str:
    started(ctx)
    ended(ctx)
    return f"got {n}"
