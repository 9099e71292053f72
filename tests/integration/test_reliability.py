"""Retries, delayed jobs, idempotent ids, dead letters, recovery from dead workers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from asyncjobs import (
    Context,
    JobDeadLettered,
    JobFailed,
    JobStatus,
    Queue,
    Retry,
    TaskTimeout,
    Worker,
)
from asyncjobs.protocol import MINUTE_TTL
from tests.support.waiting import wait_until

from .conftest import running_worker

pytestmark = pytest.mark.anyio


async def test_failures_are_retried_with_backoff_then_succeed(queue: Queue) -> None:
    attempts: list[int] = []

    @queue.task(retries=3, retry_backoff=0.05)
    async def flaky(ctx: Context) -> int:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError("try again")
        return ctx.attempt

    async with running_worker(queue):
        job = await flaky.delay()
        assert await job.result(timeout=10) == 3
    assert attempts == [1, 2, 3]
    info = await job.info()
    assert info is not None and info.attempts == 3 and info.status is JobStatus.COMPLETE
    assert info.error is None
    assert (await queue.inspect.stats())["retried"] == 2


async def test_retries_run_out_and_the_last_failure_is_reported(queue: Queue) -> None:
    @queue.task(retries=2, retry_backoff=0.01)
    async def always(ctx: Context) -> None:
        raise ValueError(f"attempt {ctx.attempt}")

    async with running_worker(queue):
        job = await always.delay()
        with pytest.raises(JobFailed) as caught:
            await job.result(timeout=10)
    assert caught.value.message == "attempt 3"
    info = await job.info()
    assert info is not None and info.attempts == 3 and info.status is JobStatus.FAILED


async def test_retry_on_limits_what_is_retried_and_timeouts_are_retried(queue: Queue) -> None:
    runs: list[str] = []

    @queue.task(retries=3, retry_backoff=0.01, retry_on=(ConnectionError,))
    async def picky(kind: str) -> None:
        runs.append(kind)
        raise KeyError(kind) if kind == "key" else ConnectionError(kind)

    @queue.task(retries=1, retry_backoff=0.01, timeout=0.1)
    async def slow(ctx: Context) -> int:
        if ctx.attempt == 1:
            await anyio.sleep(10)
        return ctx.attempt

    async with running_worker(queue):
        with pytest.raises(JobFailed):
            await (await picky.delay("key")).result(timeout=10)
        with pytest.raises(JobFailed):
            await (await picky.delay("conn")).result(timeout=10)
        assert await (await slow.delay()).result(timeout=10) == 2
    assert runs.count("key") == 1 and runs.count("conn") == 4


async def test_raise_retry_with_a_delay(queue: Queue) -> None:
    seen: list[float] = []

    @queue.task(retries=1)
    async def later(ctx: Context) -> int:
        seen.append(time.time())
        if ctx.attempt == 1:
            raise Retry(delay=0.5)
        return ctx.attempt

    async with running_worker(queue):
        job = await later.delay()
        await wait_until(lambda: len(seen) == 1, what="first attempt")
        info = await job.info()
        assert info is not None and info.status is JobStatus.SCHEDULED
        assert info.error is not None and info.error.startswith("Retry")
        assert await job.result(timeout=10) == 2
    assert seen[1] >= seen[0] + 0.5  # the retry waited for its delay


async def test_timeout_without_retries_fails_with_task_timeout(queue: Queue) -> None:
    @queue.task(timeout=0.05)
    async def slow() -> None:
        await anyio.sleep(10)

    async with running_worker(queue):
        with pytest.raises(TaskTimeout):
            await (await slow.delay()).result(timeout=10)


async def test_delayed_jobs_run_after_their_delay_or_at_their_time(queue: Queue) -> None:
    @queue.task
    async def stamp() -> float:
        return time.time()

    async with running_worker(queue):
        before = time.time()
        later = await stamp.options(delay=0.6).delay()
        at = await stamp.options(at=datetime.now(UTC) + timedelta(seconds=0.3)).delay()
        info = await later.info()
        assert info is not None and info.status is JobStatus.SCHEDULED
        assert await queue.inspect.pending_count() == 0
        ran_at = await at.result(timeout=10)
        ran_later = await later.result(timeout=10)
    assert ran_at >= before + 0.3 and ran_later >= before + 0.6  # neither ran before its time
    assert await queue.redis.zcard(queue.keys.scheduled) == 0


async def test_enqueue_with_an_explicit_job_id_is_idempotent(queue: Queue) -> None:
    @queue.task
    async def charge(order: str) -> str:
        return order

    first = await charge.options(job_id="order-42").delay("first")
    second = await charge.options(job_id="order-42").delay("second")
    assert first.id == second.id == "order-42"
    assert await queue.inspect.pending_count() == 1
    async with running_worker(queue):
        assert await second.result(timeout=10) == "first"
    again = await charge.options(job_id="order-42").delay("again")  # the id has a record now
    assert again.id == "order-42" and await queue.inspect.pending_count() == 0
    with pytest.raises(ValueError):
        charge.options(job_id="bad id {x}")


async def test_dead_letters_can_be_requeued_and_purged(queue: Queue) -> None:
    @queue.task(name="greet")
    async def greet(name: str) -> str:
        return f"hi {name}"

    newer_app = Queue(queue.name, queue.settings.redis_url, settings=queue.settings)

    @newer_app.task(name="not.deployed.yet")  # a producer deployed before the workers
    async def newer() -> None:
        return None

    unknown = await newer.delay()
    async with running_worker(queue):
        with pytest.raises(JobDeadLettered) as caught:
            await queue.result(unknown.id, timeout=10)
    assert caught.value.exc_type == "unknown_task"
    [letter] = await queue.inspect.dead_letters()
    assert letter.reason == "unknown_task" and letter.job_id == unknown.id

    queue.task(name="not.deployed.yet")(newer.fn)  # the deploy that brings the task
    assert await queue.inspect.requeue_dead_letters() == 1
    assert await queue.inspect.dead_letters() == []
    info = await queue.inspect.job(unknown.id)
    assert info is not None and info.status is JobStatus.QUEUED
    async with running_worker(queue):
        assert await queue.result(unknown.id, timeout=10) is None
    await queue.redis.lpush(queue.keys.pending, b"junk")
    async with running_worker(queue):
        await wait_until(lambda: queue.inspect.dead_letters(), what="junk dead-lettered")
    assert 0 < await queue.redis.pttl(queue.keys.dead)
    assert await queue.inspect.purge_dead_letters() == 1
    assert await queue.inspect.dead_letters() == []
    await newer_app.aclose()


async def test_a_dead_workers_jobs_are_recovered_by_a_live_one(queue: Queue) -> None:
    @queue.task
    async def work(n: int) -> int:
        return n

    jobs = await queue.enqueue_many([work.call(n) for n in range(10)])
    # a worker that took jobs and died: its processing list holds them, its heartbeat expires
    dead = Worker(queue, worker_id="dead-worker")
    taken = await queue.connection().scripts.fetch(dead.processing, 4)
    assert len(taken) == 4
    await queue.redis.zadd(queue.keys.workers, {"dead-worker": time.time()})
    await queue.redis.set(queue.keys.heartbeat("dead-worker"), 1, px=300)
    async with running_worker(queue, concurrency=2):
        assert [await job.result(timeout=15) for job in jobs] == list(range(10))
    assert await queue.redis.exists(dead.processing) == 0
    assert await queue.redis.zscore(queue.keys.workers, "dead-worker") is None
    assert (await queue.inspect.stats())["recovered"] == 4


async def test_a_job_that_keeps_killing_workers_is_dead_lettered(queue: Queue) -> None:
    @queue.task
    async def deadly() -> None:
        return None

    job = await deadly.delay()
    scripts = queue.connection().scripts
    for round_ in range(3):
        victim = f"victim-{round_}"
        processing = queue.keys.processing(victim)
        if round_ == 2:  # recovered twice: a suspect, run apart from others via the schedule
            info = await job.info()
            assert info is not None and info.status is JobStatus.SCHEDULED
            assert await scripts.promote(time.time() + 1) == (1, None)
        assert len(await scripts.fetch(processing, 1)) == 1
        await queue.redis.zadd(queue.keys.workers, {victim: time.time()})
        assert await scripts.reap(victim, reaper="tester", now=time.time()) == (
            (1, 0) if round_ < 2 else (0, 1)
        )
    with pytest.raises(JobDeadLettered) as caught:
        await job.result(timeout=5)
    assert caught.value.exc_type == "worker_lost"
    [letter] = await queue.inspect.dead_letters()
    assert letter.reason == "worker_lost" and letter.job_id == job.id
    assert letter.worker_id == "tester" and letter.queue == queue.name
    assert await queue.inspect.pending_count() == 0
    [minute] = [m for m in await queue.inspect.history(minutes=2) if m.dead]
    assert (minute.dead, minute.finished) == (1, 1), "counted by minute as it is dead-lettered"
    ttl = await queue.redis.ttl(queue.keys.minute(int(minute.at) // 60))
    assert 0 < ttl <= MINUTE_TTL


async def test_reap_does_nothing_while_the_heartbeat_is_current(queue: Queue) -> None:
    @queue.task
    async def work() -> None:
        return None

    await work.delay()
    scripts = queue.connection().scripts
    processing = queue.keys.processing("alive")
    await scripts.fetch(processing, 1)
    await queue.redis.set(queue.keys.heartbeat("alive"), 1, px=10_000)
    assert await scripts.reap("alive", reaper="tester", now=time.time()) is None
    assert await queue.redis.llen(processing) == 1


async def test_reconcile_puts_back_what_the_worker_is_not_running(queue: Queue) -> None:
    @queue.task
    async def work(n: int) -> None:
        return None

    await queue.enqueue_many([work.call(n) for n in range(3)])
    scripts = queue.connection().scripts
    processing = queue.keys.processing("w")
    taken = await scripts.fetch(processing, 3)
    running = [taken[1][0]]
    assert await scripts.reconcile(processing, running) == 2
    assert await queue.redis.lrange(processing, 0, -1) == running
    assert await queue.inspect.pending_count() == 2


async def test_a_job_taken_by_a_blocking_fetch_whose_start_was_lost_goes_back_as_it_was(
    queue: Queue,
) -> None:
    """A BLMOVE took the job, then the connection dropped before ``start.lua`` ran: reconcile
    puts it back without undoing a start that never happened (its attempt, its slot)."""
    @queue.task(max_concurrency=1)
    async def limited() -> None:
        return None

    job = await limited.delay()
    scripts = queue.connection().scripts
    assert [a for _, a in await scripts.fetch(queue.keys.processing("dead"), 1)] == [1]
    assert await scripts.reap("dead", reaper="tester", now=time.time()) == (1, 0)  # attempt 1 lost
    processing = queue.keys.processing("w")
    for _ in range(2):  # taken twice by a BLMOVE whose start was lost, put back by reconcile
        assert await queue.redis.lmove(queue.keys.pending, processing, "RIGHT", "LEFT")
        assert await scripts.reconcile(processing, []) == 1
        info = await queue.inspect.job(job.id)
        assert info is not None and (info.status, info.attempts) == (JobStatus.QUEUED, 1)
        assert await queue.redis.scard(queue.keys.conc_prefix + "run:t:limited") == 0
    taken = await scripts.fetch(processing, 1)
    assert [attempt for _, attempt in taken] == [2], "it runs again, as its second attempt"


async def test_two_copies_of_one_job_never_run_at_once_in_one_worker(queue: Queue) -> None:
    running: list[int] = []
    most = 0

    @queue.task(name="slowish")
    async def slowish() -> None:
        nonlocal most
        running.append(1)
        most = max(most, len(running))
        await anyio.sleep(0.2)
        running.pop()

    job = await slowish.delay()
    [entry] = await queue.redis.lrange(queue.keys.pending, 0, -1)
    await queue.redis.lpush(queue.keys.pending, entry)  # the same envelope twice
    async with running_worker(queue, concurrency=4):
        await job.result(timeout=10)
        await wait_until(lambda: _duplicates(queue, 1), 10, "the second run counted")
    assert most == 1, "both copies ran at once"


async def _duplicates(queue: Queue, n: int) -> bool:
    return (await queue.inspect.stats()).get("duplicate_completions", 0) == n
