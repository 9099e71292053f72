"""Recovery of a SIGKILLed worker's jobs within the documented bound, ``heartbeat_ttl +
reaper_interval + 1`` seconds, across the heartbeat timings ``Settings`` accepts: from the
fastest heartbeat it allows (``interval = ttl / 2``) to many beats per TTL, and a reaper slower
than the TTL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from asyncjobs import Context, Queue
from tests.support.waiting import wait_until

from .conftest import running_worker

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
JOBS = 6


@pytest.mark.parametrize(
    ("interval", "ttl", "reaper"),
    [
        (0.5, 1.0, 0.3),  # interval = ttl / 2: the slowest heartbeat Settings accepts
        (0.25, 0.5, 0.25),
        (0.1, 1.0, 0.5),  # ten beats per TTL
        (0.4, 2.0, 0.5),  # the test suite's timings
        (0.3, 0.6, 1.0),  # a reaper slower than the TTL
    ],
)
async def test_a_killed_workers_jobs_are_recovered_within_the_bound(
    make_queue: Callable[..., Queue], tmp_path: Path, interval: float, ttl: float, reaper: float
) -> None:
    queue = make_queue(heartbeat_interval=interval, heartbeat_ttl=ttl, reaper_interval=reaper)
    ran: dict[str, float] = {}

    @queue.task(name="hold")  # here it returns at once; in the victim it holds its job
    async def hold(ctx: Context, n: int) -> int:
        ran[ctx.job_id] = time.monotonic()
        return n

    env = {
        **os.environ, "ASYNCJOBS_REDIS_URL": queue.settings.redis_url,
        "ASYNCJOBS_TEST_QUEUE": queue.name, "ASYNCJOBS_TEST_TIMINGS": f"{interval} {ttl} {reaper}",
    }
    victim = _spawn(env, tmp_path / "victim.err")
    try:
        jobs = await queue.enqueue_many([hold.call(n) for n in range(JOBS)])
        await wait_until(lambda: _held(queue, JOBS), 30, "the victim holding every job")
        async with running_worker(queue, concurrency=JOBS):
            await wait_until(lambda: _registered(queue, 2), 10, "the rescuer registered")
            victim.kill()
            victim.wait()
            killed_at = time.monotonic()
            bound = ttl + reaper + 1.0
            values = [await job.result(timeout=bound + 10) for job in jobs]
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
        stats = await queue.inspect.stats()
        await queue.aclose()
    assert values == list(range(JOBS)), "a job was lost"
    late = {job_id: round(t - killed_at, 2) for job_id, t in ran.items() if t - killed_at > bound}
    assert not late, f"recovered later than {bound} s after the kill: {late}"
    assert stats["complete"] == JOBS and stats["recovered"] == JOBS, stats


def _spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "asyncjobs", "worker", "tests.apps.timings:queue",
             "-c", str(JOBS), "--log-level", "WARNING"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
        )


async def _held(queue: Queue, n: int) -> bool:
    async for key in queue.redis.scan_iter(match=f"{queue.keys.base}:processing:*"):
        return int(await queue.redis.llen(key)) == n
    return False


async def _registered(queue: Queue, n: int) -> bool:
    return int(await queue.redis.zcard(queue.keys.workers)) >= n
