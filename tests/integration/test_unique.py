"""Unique jobs and debounce against a real server and real workers: one job per key while its
window lasts, the key freed exactly when the window ends (however the job ends), races of many
producers, and debounced calls replacing a waiting job."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import anyio
import pytest

from asyncjobs import ConfigError, JobCancelled, JobExpired, JobFailed, JobState, Queue
from tests.support.waiting import wait_until

from .conftest import running_worker

pytestmark = pytest.mark.anyio


async def held_keys(queue: Queue) -> list[str]:
    """The unique keys held in the queue (a test may scan; the library never does)."""
    return sorted([key.decode().rsplit(":", 1)[1] async for key in
                   queue.redis.scan_iter(match=f"{queue.keys.unique_prefix}*")])


async def test_while_active_one_job_until_it_ends(queue: Queue) -> None:
    release = anyio.Event()
    runs: list[int] = []

    @queue.task
    async def invoice(n: int) -> int:
        runs.append(n)
        await release.wait()
        return n

    first = await invoice.options(unique_key="invoice-7").delay(1)
    again = await invoice.options(unique_key="invoice-7").delay(2)
    assert again.id == first.id, "the holder's handle"
    assert await queue.inspect.pending_count() == 1
    async with running_worker(queue):
        await wait_until(lambda: runs == [1], what="the job to start")
        running = await invoice.options(unique_key="invoice-7").delay(3)
        assert running.id == first.id, "held while it runs"
        other = await invoice.options(unique_key="invoice-8").delay(4)
        assert other.id != first.id
        release.set()
        assert await again.result(timeout=5) == 1
        assert await other.result(timeout=5) == 4
        assert await held_keys(queue) == []
        after = await invoice.options(unique_key="invoice-7").delay(5)
        assert after.id != first.id and await after.result(timeout=5) == 5
    assert runs == [1, 4, 5]


async def test_while_queued_frees_the_key_when_the_job_starts(queue: Queue) -> None:
    release = anyio.Event()
    runs: list[int] = []

    @queue.task
    async def sync(n: int) -> int:
        runs.append(n)
        await release.wait()
        return n

    first = await sync.options(unique_key="c-1", unique="while_queued").delay(1)
    assert (await sync.options(unique_key="c-1", unique="while_queued").delay(2)).id == first.id
    async with running_worker(queue):
        await wait_until(lambda: runs == [1], what="the job to start")
        second = await sync.options(unique_key="c-1", unique="while_queued").delay(3)
        assert second.id != first.id, "a started job no longer holds the key"
        release.set()
        assert [await first.result(timeout=5), await second.result(timeout=5)] == [1, 3]
    assert await held_keys(queue) == []


async def test_until_result_expires_holds_the_key_for_the_result_ttl(queue: Queue) -> None:
    @queue.task(result_ttl=1.0)
    async def report(n: int) -> int:
        return n

    options = report.options(unique_key="r-1", unique="until_result_expires")
    async with running_worker(queue):
        first = await options.delay(1)
        assert await first.result(timeout=5) == 1
        assert (await options.delay(2)).id == first.id, "held while its result is kept"
        assert await held_keys(queue) == ["r-1"]
        ttl = await queue.redis.pttl(f"{queue.keys.unique_prefix}r-1")
        assert 0 < ttl <= 1000
        await wait_until(lambda: is_empty(held_keys(queue)), 5, "the key to expire with the result")
        second = await options.delay(3)
        assert second.id != first.id and await second.result(timeout=5) == 3


async def is_empty(keys: Any) -> bool:
    return not await keys


async def test_the_key_is_freed_however_the_job_ends(queue: Queue) -> None:
    @queue.task
    async def fails() -> None:
        raise RuntimeError("no")

    @queue.task
    async def work() -> str:
        return "ok"

    failed = await fails.options(unique_key="fails").delay()
    cancelled = await work.options(unique_key="cancelled", delay=60).delay()
    expired = await work.options(unique_key="expired", expires=0.05).delay()
    assert await cancelled.cancel()
    deadline = time.time() + 0.1
    await wait_until(lambda: time.time() > deadline, what="the expiry")
    async with running_worker(queue):
        with pytest.raises(JobFailed):
            await failed.result(timeout=5)
        with pytest.raises(JobExpired):
            await expired.result(timeout=5)
    with pytest.raises(JobCancelled):
        await cancelled.result(timeout=1)
    assert await held_keys(queue) == []
    for key in ("fails", "cancelled", "expired"):  # each key takes a new job again
        job = await work.options(unique_key=key).delay()
        assert job.id not in (failed.id, cancelled.id, expired.id)


async def test_a_dead_lettered_job_frees_its_key(make_queue: Callable[..., Queue]) -> None:
    producer, served = make_queue(), make_queue()
    served = Queue(producer.name, producer.settings.redis_url, settings=producer.settings)

    @producer.task(name="unknown.elsewhere")
    async def elsewhere() -> None:
        return None

    job = await elsewhere.options(unique_key="poison").delay()
    async with running_worker(served):  # the worker does not know the task: a dead letter
        with pytest.raises(JobFailed):
            await job.result(timeout=5)
    assert await held_keys(producer) == []
    for queue in (producer, served):
        await queue.aclose()


async def test_a_thousand_concurrent_enqueues_of_one_key_make_one_job(
    make_queue: Callable[..., Queue],
) -> None:
    first = make_queue()
    second = Queue(first.name, first.settings.redis_url, settings=first.settings)
    tasks = []
    for queue in (first, second):
        @queue.task(name="sync.customer")
        async def sync_customer(n: int) -> int:
            return n

        tasks.append(sync_customer)
    ids: list[str] = []

    async def enqueue(i: int) -> None:
        job = await tasks[i % 2].options(unique_key="customer-1").delay(i)
        ids.append(job.id)

    async with anyio.create_task_group() as tg:
        for i in range(1000):
            tg.start_soon(enqueue, i)
    assert len(ids) == 1000 and len(set(ids)) == 1, "every caller gets the one job"
    assert await first.inspect.pending_count() == 1
    for queue in (first, second):
        await queue.aclose()


async def test_enqueue_many_applies_the_rule_within_one_call(queue: Queue) -> None:
    @queue.task
    async def work(n: int) -> int:
        return n

    calls = [work.options(unique_key=f"k-{n % 3}").call(n) for n in range(9)]
    plain = [work.call(100 + n) for n in range(2)]
    jobs = await queue.enqueue_many([*calls, *plain])
    assert [job.id for job in jobs[:3]] == [call.job_id for call in calls[:3]]
    assert [job.id for job in jobs[3:9]] == [jobs[n % 3].id for n in range(3, 9)]
    assert await queue.inspect.pending_count() == 5
    async with running_worker(queue):
        assert sorted([await job.result(timeout=5) for job in jobs]) == sorted(
            [0, 1, 2, 0, 1, 2, 0, 1, 2, 100, 101])


async def test_debounce_runs_once_with_the_last_arguments_after_the_last_call(
    queue: Queue,
) -> None:
    runs: list[tuple[int, float]] = []

    @queue.task
    async def reindex(version: int) -> int:
        runs.append((version, time.time()))
        return version

    debounced = reindex.options(unique_key="user-1", debounce=timedelta(seconds=0.4))
    async with running_worker(queue):
        jobs = []
        for version in range(3):
            jobs.append(await debounced.delay(version))
            last = time.time()
            await anyio.sleep(0.1)  # the calls come apart in time, each within the window
        assert len({job.id for job in jobs}) == 1, "every caller gets the same handle"
        assert await jobs[0].result(timeout=5) == 2, "the last call's arguments"
        assert runs[0][1] - last >= 0.35, "started the debounce after the last call"
        following = await debounced.delay(7)
        assert following.id != jobs[0].id, "once started, a call begins a new cycle"
        assert await following.result(timeout=5) == 7
    assert [version for version, _ in runs] == [2, 7]
    assert await held_keys(queue) == []
    assert await queue.redis.hlen(queue.keys.debounced) == 0


@pytest.mark.parametrize(("options", "message"), [
    ({"debounce": 1}, "debounce needs a unique_key"),
    ({"unique": "while_queued"}, "unique= needs a unique_key"),
    ({"unique_key": "k", "unique": "forever"}, "unique must be one of while_queued, while_active"),
    ({"unique_key": "k k"}, "unique_key 'k k' must match"),
    ({"unique_key": "k", "debounce": 0}, "debounce must be positive"),
    ({"unique_key": "k", "debounce": 1, "delay": 1}, "give one of delay, at and debounce"),
    ({"unique_key": "k", "debounce": 1, "unique": "while_active"}, "does not go with debounce"),
])
async def test_bad_unique_options_are_refused_before_anything_is_written(
    queue: Queue, options: dict[str, Any], message: str
) -> None:
    @queue.task
    async def work() -> None:
        return None

    with pytest.raises(ConfigError, match=message):
        work.options(**options)
    assert await queue.redis.exists(queue.keys.queued) == 0


async def test_a_unique_job_that_keeps_its_key_through_a_retry(queue: Queue) -> None:
    attempts: list[int] = []

    @queue.task(retries=1, retry_backoff=0.2)
    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    job = await flaky.options(unique_key="flaky").delay()
    async with running_worker(queue):
        await wait_until(lambda: attempts == [1], what="the first attempt")
        info = await job.info()
        assert info is not None and info.status in (JobState.SCHEDULED, JobState.RUNNING,
                                                    JobState.QUEUED)
        assert (await flaky.options(unique_key="flaky").delay()).id == job.id
        assert await job.result(timeout=5) == "ok"
    assert await held_keys(queue) == []
