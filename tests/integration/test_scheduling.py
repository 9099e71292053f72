"""Priorities, expiry, cancellation and pause, end to end with real workers on a real server."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from asyncjobs import (
    ConfigError,
    Context,
    JobCancelled,
    JobExpired,
    JobFailed,
    JobState,
    Queue,
)
from asyncjobs.protocol import WAKE
from tests.support.waiting import holds_for, wait_until

from .conftest import running_worker

pytestmark = pytest.mark.anyio

async def is_zero(count: Awaitable[int]) -> bool:
    return await count == 0


# -- priorities ---------------------------------------------------------------------------------


async def test_a_backlog_starts_by_priority_then_in_order(queue: Queue) -> None:
    started: list[tuple[int, int]] = []

    @queue.task
    async def work(priority: int, n: int) -> None:
        started.append((priority, n))

    rng = random.Random(7)
    calls = [(rng.randrange(10), n) for n in range(10_000)]
    for start in range(0, len(calls), 500):  # each job on its own, interleaved levels
        await queue.enqueue_many([work.options(priority=p).call(p, n)
                                  for p, n in calls[start:start + 500]])
    assert await queue.inspect.pending_count() == 10_000
    async with running_worker(queue, concurrency=1):
        await wait_until(lambda: len(started) == len(calls), timeout=60, what="the backlog to drain")
    assert started == sorted(calls, key=lambda c: (-c[0], c[1])), \
        "higher priority first, in enqueue order within a level"


async def test_a_task_default_priority_and_the_queued_listing(queue: Queue) -> None:
    @queue.task(priority=5)
    async def urgent() -> None:
        return None

    @queue.task
    async def normal() -> None:
        return None

    second = await urgent.delay()  # into an empty queue: the WAKE marker goes in too
    first = await normal.delay()
    third = await urgent.options(priority=9).delay()
    listed = await queue.inspect.jobs(JobState.QUEUED)
    assert [(info.id, info.priority) for info in listed] == [
        (third.id, 9), (second.id, 5), (first.id, 0)]
    assert WAKE.encode() in await queue.redis.lrange(queue.keys.pending, 0, -1)
    assert await queue.inspect.pending_count() == 3, "the WAKE marker is not a job"
    assert (await queue.inspect.counts()).pending == 3


async def test_an_idle_worker_starts_a_prioritized_job_at_once(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(block_timeout=2.5, socket_timeout=3.0)  # a poll would take 2.5 s

    @queue.task
    async def stamp() -> float:
        return time.time()

    async with running_worker(queue):
        await (await stamp.delay()).result(timeout=5)  # the worker now blocks on the empty queue
        for priority in (3, 0, 9):
            before = time.time()
            job = await stamp.options(priority=priority).delay()
            assert await job.result(timeout=5) - before < 1.0, f"priority {priority}"
    await queue.aclose()


async def test_retries_and_delayed_jobs_keep_their_priority(queue: Queue) -> None:
    attempts: list[str] = []

    @queue.task(retries=1, retry_backoff=0.0)
    async def flaky(name: str) -> str:
        attempts.append(name)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return name

    @queue.task
    async def filler() -> None:
        return None

    failing = await flaky.options(priority=4).delay("flaky")
    async with running_worker(queue) as worker:
        await wait_until(lambda: attempts == ["flaky"], what="the first attempt")
        worker.stop()  # the retry stays scheduled, or queued once promoted
    later = await flaky.options(priority=7, delay=0.05).delay("later")
    fillers = [await filler.delay() for _ in range(3)]
    scripts = queue.connection().scripts
    await wait_until(lambda: scripts.promote(time.time()), what="due jobs to be promoted")
    while (await scripts.promote(time.time() + 1))[0]:
        pass
    listed = [info.id for info in await queue.inspect.jobs(JobState.QUEUED)]
    assert listed == [later.id, failing.id, *[job.id for job in fillers]]
    async with running_worker(queue):
        assert await failing.result(timeout=10) == "flaky"
        assert await later.result(timeout=10) == "later"


@pytest.mark.parametrize("priority", [-1, 10, True, 2.5, "9"])
async def test_a_priority_outside_0_to_9_is_refused(queue: Queue, priority: Any) -> None:
    @queue.task
    async def work() -> None:
        return None

    with pytest.raises(ConfigError, match="priority must be an int from 0 to 9"):
        work.options(priority=priority)
    with pytest.raises(ConfigError, match="priority must be an int from 0 to 9"):
        queue.task(priority=priority)
    assert await queue.redis.exists(queue.keys.queued) == 0


# -- expiry -------------------------------------------------------------------------------------


async def test_a_job_not_started_before_it_expires_never_runs(queue: Queue) -> None:
    ran: list[str] = []

    @queue.task
    async def work(name: str) -> str:
        ran.append(name)
        return name

    stale = await work.options(expires=0.2).delay("stale")
    stale_prioritized = await work.options(expires=timedelta(seconds=0.2), priority=3).delay("p")
    fresh = await work.options(expires=datetime.now(UTC) + timedelta(minutes=5)).delay("fresh")
    deadline = time.time() + 0.25
    await wait_until(lambda: time.time() > deadline, what="the expiry")
    async with running_worker(queue):
        for job in (stale, stale_prioritized):
            with pytest.raises(JobExpired) as raised:
                await job.result(timeout=10)
            assert isinstance(raised.value, JobFailed)
        assert await fresh.result(timeout=10) == "fresh"
    assert ran == ["fresh"]
    info = await queue.inspect.job(stale.id)
    assert info is not None and info.status is JobState.EXPIRED and info.attempts == 0
    assert (await queue.inspect.stats())["expired"] == 2


async def test_an_expiring_job_is_listed_with_its_expiry(queue: Queue) -> None:
    @queue.task
    async def work() -> None:
        return None

    job = await work.options(expires=60).delay()
    info = await job.info()
    assert info is not None and info.expires_at is not None
    assert 59 < info.expires_at - time.time() <= 60


@pytest.mark.parametrize(("options", "message"), [
    ({"expires": -1}, "expires is in the past"),
    ({"expires": datetime.now(UTC) - timedelta(seconds=1)}, "expires is in the past"),
    ({"expires": datetime(2099, 1, 1)}, "expires= needs a timezone-aware datetime"),
    ({"at": datetime(2099, 1, 1)}, "at= needs a timezone-aware datetime"),
    ({"delay": 60, "expires": 30}, "expires is not after the job is due"),
])
async def test_bad_times_are_refused_before_anything_is_written(
    queue: Queue, options: dict[str, Any], message: str
) -> None:
    @queue.task
    async def work() -> None:
        return None

    with pytest.raises(ConfigError, match=message):
        work.options(**options)
    assert await queue.redis.exists(queue.keys.queued) == 0


# -- cancellation -------------------------------------------------------------------------------


async def test_cancel_a_waiting_job_queued_prioritized_or_scheduled(queue: Queue) -> None:
    ran: list[str] = []

    @queue.task
    async def work(name: str) -> str:
        ran.append(name)
        return name

    queued = await work.delay("queued")
    prioritized = await work.options(priority=5).delay("prioritized")
    scheduled = await work.options(delay=0.1).delay("scheduled")
    kept = await work.delay("kept")
    for job in (queued, prioritized, scheduled):
        assert await job.cancel() is True
        assert await queue.cancel(job.id) is True, "cancelling is idempotent"
        info = await job.info()
        assert info is not None and info.status is JobState.CANCELLED
        with pytest.raises(JobCancelled):
            await job.result(timeout=1)
    async with running_worker(queue):
        assert await kept.result(timeout=10) == "kept"
        await wait_until(lambda: is_zero(queue.redis.zcard(queue.keys.scheduled)),
                         what="the cancelled delayed job to leave the schedule")
        await wait_until(lambda: is_zero(queue.inspect.pending_count()), what="an empty queue")
    assert ran == ["kept"]
    assert await queue.cancel(kept.id) is False, "a finished job is not cancelled"
    assert await queue.cancel("no-such-job") is False
    assert (await queue.inspect.stats())["cancelled"] == 3
    assert (await queue.inspect.counts()).pending == 0


async def test_cancel_a_running_async_job_stops_it_and_never_retries_it(queue: Queue) -> None:
    running = anyio.Event()
    stopped = anyio.Event()

    @queue.task(retries=3)
    async def forever(ctx: Context) -> None:
        running.set()
        try:
            await anyio.sleep_forever()
        finally:
            stopped.set()

    @queue.task
    async def after() -> str:
        return "after"

    async with running_worker(queue, concurrency=1):
        job = await forever.delay()
        await running.wait()
        asked = time.monotonic()
        assert await job.cancel() is True
        with anyio.fail_after(1.0):
            await stopped.wait()
        assert time.monotonic() - asked < 1.0
        with pytest.raises(JobCancelled):
            await job.result(timeout=1)
        assert await (await after.delay()).result(timeout=5) == "after", "the slot is free again"
    info = await job.info()
    assert info is not None and info.status is JobState.CANCELLED and info.attempts == 1
    stats = await queue.inspect.stats()
    assert stats.get("cancelled") == 1 and "retried" not in stats and "duplicate_completions" not in stats


async def test_cancel_a_running_sync_job_drops_its_result(queue: Queue) -> None:
    release = threading.Event()
    running = threading.Event()

    @queue.task
    def blocking() -> str:
        running.set()
        release.wait(10)
        return "done"

    async with running_worker(queue) as worker:
        job = await blocking.delay()
        await wait_until(running.is_set, what="the sync task to start")
        assert await job.cancel() is True
        with pytest.raises(JobCancelled):
            await job.result(timeout=1)
        release.set()
        await wait_until(lambda: is_zero(queue.redis.llen(worker.processing)),
                         what="the worker to drop the finished run")
    info = await job.info()
    assert info is not None and info.status is JobState.CANCELLED
    assert "complete" not in await queue.inspect.stats()


# -- pause --------------------------------------------------------------------------------------


async def test_a_paused_queue_takes_jobs_and_starts_none_until_resumed(queue: Queue) -> None:
    started: list[str] = []
    release = anyio.Event()

    @queue.task
    async def work(name: str) -> str:
        started.append(name)
        if name == "running":
            await release.wait()
        return name

    async with running_worker(queue) as worker:
        running = await work.delay("running")
        await wait_until(lambda: started == ["running"], what="the first job to start")
        await queue.pause()
        assert await queue.is_paused()
        held = [await work.delay(f"held-{i}") for i in range(3)]
        held.append(await work.options(priority=5).delay("held-prioritized"))
        release.set()
        assert await running.result(timeout=5) == "running", "a running job finishes"
        await holds_for(lambda: started == ["running"], 0.5, "nothing starts while paused")
        assert (await queue.inspect.counts()).paused
        worker.stop()
    async with running_worker(queue):  # a new worker sees the pause too
        await holds_for(lambda: started == ["running"], 0.3, "nothing starts while paused")
        resumed = time.monotonic()
        await queue.resume()
        assert not await queue.is_paused()
        for job in held:
            await job.result(timeout=5)
        assert time.monotonic() - resumed < 1.0
    assert sorted(started[1:]) == sorted(["held-0", "held-1", "held-2", "held-prioritized"])


async def test_a_worker_over_two_queues_runs_the_other_while_one_is_paused(
    make_queue: Callable[..., Queue],
) -> None:
    first, second = make_queue(), make_queue()
    started: list[str] = []

    @first.task(name="a")
    async def on_first(name: str) -> str:
        started.append(name)
        return name

    @second.task(name="b")
    async def on_second(name: str) -> str:
        started.append(name)
        return name

    await first.pause()
    held = await on_first.delay("held")
    async with running_worker([first, second], concurrency=4):
        assert await (await on_second.delay("other")).result(timeout=5) == "other"
        await holds_for(lambda: "held" not in started, 0.3, "the paused queue starts nothing")
        resumed = time.monotonic()
        await first.resume()
        assert await held.result(timeout=5) == "held"
        assert time.monotonic() - resumed < 1.0
    for queue in (first, second):
        await queue.aclose()
