"""The read and admin side of a queue, against a real server and a real worker."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import anyio
import pytest

from asyncjobs import ConfigError, JobFailed, JobState, Queue, QueueCounts
from asyncjobs.inspector import known_queues
from asyncjobs.protocol import MINUTE_TTL
from tests.support.waiting import wait_until

from .conftest import running_worker

pytestmark = pytest.mark.anyio


async def test_counts_and_pages_of_waiting_jobs(queue: Queue) -> None:
    @queue.task
    async def work(n: int) -> int:
        return n

    jobs = [await work.delay(n) for n in range(5)]
    later = await work.options(delay=60).delay(99)
    inspect = queue.inspect
    counts = await inspect.counts()
    assert counts == QueueCounts(pending=5, scheduled=1, running=0, dead=0, workers=0, waiting=0,
                                 complete=0,
                                 failed=0, retried=0, recovered=0, duplicate_completions=0,
                                 cancelled=0, expired=0, schedule_misfires=0,
                                 schedule_skips=0, paused=False)
    page = await inspect.jobs(JobState.QUEUED, offset=1, limit=3)
    assert [info.id for info in page] == [job.id for job in jobs[1:4]], "oldest first, paged"
    assert [info.id for info in await inspect.jobs(JobState.SCHEDULED)] == [later.id]
    assert await inspect.jobs(JobState.QUEUED, offset=5) == []
    with pytest.raises(ConfigError, match="not listed"):
        await inspect.jobs(JobState.COMPLETE)


async def test_running_jobs_and_workers_are_listed(queue: Queue) -> None:
    release = anyio.Event()
    three_started = anyio.Event()
    started = 0

    @queue.task
    async def hold() -> None:
        nonlocal started
        started += 1
        if started == 3:
            three_started.set()
        await release.wait()

    jobs = [await hold.delay() for _ in range(3)]
    async with running_worker(queue, concurrency=10) as worker:
        with anyio.fail_after(10):
            await three_started.wait()
        running = await queue.inspect.jobs(JobState.RUNNING)
        assert {info.id for info in running} == {job.id for job in jobs}
        assert all(info.status is JobState.RUNNING for info in running)
        [info] = await queue.inspect.workers()
        assert (info.id, info.alive, info.running) == (worker.id, True, 3)
        assert info.last_beat <= time.time()
        assert (info.host, info.pid, info.queues) == (socket.gethostname(), os.getpid(),
                                                      (queue.name,))
        assert info.started is not None and info.started <= info.last_beat
        # a worker of a version before the worker card: alive, nothing more known
        await queue.redis.zadd(queue.keys.workers, {"older": time.time() - 60})
        await queue.redis.set(queue.keys.heartbeat("older"), 1, px=10_000)
        older = (await queue.inspect.workers())[1]
        assert (older.id, older.alive, older.host, older.pid, older.queues) == (
            "older", True, None, None, ())
        await queue.redis.delete(queue.keys.heartbeat("older"))
        await queue.redis.zrem(queue.keys.workers, "older")
        counts = await queue.inspect.counts()
        assert (counts.running, counts.workers) == (3, 1)
        release.set()
        for job in jobs:
            await job.result(timeout=10)
    assert (await queue.inspect.counts()).complete == 3


async def test_the_old_queue_methods_still_work_and_warn(queue: Queue) -> None:
    with pytest.warns(DeprecationWarning, match=r"queue.inspect.stats\(\)"):
        assert await queue.stats() == {}
    with pytest.warns(DeprecationWarning, match="queue.inspect.pending_count"):
        assert await queue.pending_count() == 0
    with pytest.warns(DeprecationWarning, match="queue.inspect.job"):
        assert await queue.job("nope") is None


async def registered(queue: Queue) -> bool:
    return queue.name in await known_queues(queue.redis)


async def test_queues_register_themselves_and_finishes_are_counted_by_minute(
    make_queue: Callable[..., Queue],
) -> None:
    producer_only, served = make_queue(), make_queue()

    @served.task
    async def work(fail: bool) -> None:
        if fail:
            raise RuntimeError("no")

    assert producer_only.name not in await known_queues(producer_only.redis)
    await producer_only.enqueue_many([])  # nothing to enqueue: nothing registered
    assert producer_only.name not in await known_queues(producer_only.redis)

    @producer_only.task
    async def noop() -> None:
        return None

    await noop.delay()
    async with running_worker(served):
        await wait_until(lambda: registered(served), what="the worker to register its queue")
        jobs = [await work.delay(i % 3 == 0) for i in range(9)]
        for job in jobs:
            try:
                await job.result(timeout=5)
            except JobFailed:
                pass
    assert producer_only.name in await known_queues(producer_only.redis)
    history = await served.inspect.history(minutes=2)
    assert len(history) == 2 and history[-1].at <= time.time() < history[-1].at + 60
    assert sum(m.complete for m in history) == 6 and sum(m.failed for m in history) == 3
    for minute in history:
        if minute.complete or minute.failed:
            ttl = await served.redis.ttl(served.keys.minute(int(minute.at) // 60))
            assert 0 < ttl <= MINUTE_TTL, "the counters expire"
    with pytest.raises(ConfigError, match="minutes must be from 1 to 120"):
        await served.inspect.history(minutes=0)
    for queue in (producer_only, served):
        await queue.aclose()
