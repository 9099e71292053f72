"""The read and admin side of a queue, against a real server and a real worker."""

from __future__ import annotations

import time

import anyio
import pytest

from asyncjobs import ConfigError, JobState, Queue, QueueCounts

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
    assert counts == QueueCounts(pending=5, scheduled=1, running=0, dead=0, workers=0, complete=0,
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
