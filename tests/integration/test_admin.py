"""The operator's commands as library functions (``asyncjobs.admin``), against a real server and
real workers: counts, listings, one job decoded without its task's code, retry, cancel,
pause; and a bounded ``info`` on a queue of 1,000,000 jobs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import anyio
import msgspec
import pytest

from asyncjobs import JobFailed, JobStatus, Queue
from asyncjobs.admin import Admin, NotAllowed, NotFound, QueueSummary
from asyncjobs.errors import ConfigError
from asyncjobs.protocol import REGISTRY
from tests.support.waiting import wait_until

from .conftest import running_worker

pytestmark = pytest.mark.anyio


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Admin]:
    async with Admin(redis_url) as a:
        yield a


async def test_info_counts_every_state_and_the_rate(queue: Queue, admin: Admin) -> None:
    @queue.task
    async def ok(n: int) -> int:
        return n

    @queue.task
    async def boom() -> None:
        raise ValueError("no")

    async with running_worker(queue, concurrency=4):
        for n in range(5):
            assert await (await ok.delay(n)).result(timeout=10) == n
        with pytest.raises(JobFailed):
            await (await boom.delay()).result(timeout=10)
        await wait_until(lambda: _workers(admin, queue.name), 10, "the worker listed")
        [row] = await admin.info([queue.name])
    assert row.name == queue.name
    assert (row.pending, row.complete, row.failed, row.workers, row.paused) == (0, 5, 1, 1, False)
    assert row.jobs_per_second > 0
    await ok.delay(1)
    await queue.pause()
    [row] = await admin.info([queue.name])
    assert (row.pending, row.paused, row.workers) == (1, True, 0)
    assert queue.name in [r.name for r in await admin.info()]
    document = msgspec.json.decode(msgspec.json.encode({"queues": [row]}))
    assert set(document["queues"][0]) == set(QueueSummary.__dataclass_fields__)


async def _workers(admin: Admin, name: str) -> bool:
    return any(w.alive for w in await admin.workers(name))


async def test_unknown_queue_and_job_are_not_found(queue: Queue, admin: Admin) -> None:
    with pytest.raises(NotFound, match="no queue named 'nope-x'"):
        await admin.info(["nope-x"])

    @queue.task
    async def ok() -> None:
        pass

    await ok.delay()  # registers the queue
    with pytest.raises(NotFound, match="has no job 'missing'"):
        await admin.job(queue.name, "missing")
    with pytest.raises(ConfigError):
        await admin.jobs(queue.name, "complete")


async def test_a_failed_job_shows_its_args_and_traceback_and_is_retried(
    queue: Queue, admin: Admin
) -> None:
    fail = [True]

    @queue.task(name="flaky")
    async def flaky(n: int, blob: bytes, tags: dict[str, list[int]]) -> int:
        if fail[0]:
            raise RuntimeError(f"flaky {n}")
        return n * 2

    async with running_worker(queue, concurrency=2):
        job = await flaky.delay(21, b"\x00\xff", {"a": [1, 2]})
        with pytest.raises(JobFailed):
            await job.result(timeout=10)
        [listed] = await admin.jobs(queue.name, "failed")
        assert (listed.id, listed.status, listed.error) == (job.id, "failed", "RuntimeError: flaky 21")
        assert await admin.jobs(queue.name, "failed", task="other") == []
        detail = await admin.job(queue.name, job.id)
        assert detail.args == [21, {"base64": "AP8="}, {"a": [1, 2]}]
        assert detail.failure is not None and detail.failure.type == "RuntimeError"
        assert "raise RuntimeError" in detail.failure.traceback
        assert detail.attempts == 1
        fail[0] = False
        summary = await admin.retry(queue.name, job.id)
        assert summary.status in ("queued", "running", "complete")
        assert await job.result(timeout=10) == 42
        with pytest.raises(NotAllowed, match="only failed and dead jobs"):
            await admin.retry(queue.name, job.id)
        detail = await admin.job(queue.name, job.id)
        assert (detail.status, detail.result, detail.attempts) == ("complete", 42, 1)
        assert await admin.jobs(queue.name, "failed") == [], "a retried job leaves the failed list"


async def test_a_dead_letter_is_retried_by_job_id(make_queue: Callable[..., Queue], admin: Admin) -> None:
    served = make_queue()
    producer = Queue(served.name, served.settings.redis_url, settings=served.settings)

    @producer.task(name="later")
    async def later(n: int) -> int:
        return n

    try:
        async with running_worker(served):
            job = await later.delay(7)
            with pytest.raises(JobFailed):
                await job.result(timeout=10)
        [letter] = await admin.dead(served.name)
        assert (letter.job_id, letter.task, letter.reason) == (job.id, "later", "unknown_task")
        assert (await admin.job(served.name, job.id)).args == [7]
        served.task(name="later")(later.fn)  # deployed at last
        await admin.retry(served.name, job.id)
        assert await admin.dead(served.name) == []
        async with running_worker(served):
            assert await job.result(timeout=10) == 7
        with pytest.raises(NotFound):
            await admin.retry(served.name, "never-was")
    finally:
        await producer.aclose()


async def test_cancel_pause_resume_and_listing(queue: Queue, admin: Admin) -> None:
    @queue.task(name="wait")
    async def wait(n: int) -> int:
        return n

    jobs = [await wait.delay(n) for n in range(3)]
    listed = await admin.jobs(queue.name, "queued", limit=2)
    assert [row.id for row in listed] == [job.id for job in jobs[:2]]
    assert (await admin.job(queue.name, jobs[0].id)).args is None, "a waiting job's call is not read"
    cancelled = await admin.cancel(queue.name, jobs[0].id)
    assert cancelled.status == JobStatus.CANCELLED
    assert (await admin.cancel(queue.name, jobs[0].id)).status == "cancelled", "idempotent"
    await admin.pause(queue.name)
    assert await queue.is_paused()
    await admin.resume(queue.name)
    assert not await queue.is_paused()
    async with running_worker(queue):
        assert await jobs[1].result(timeout=10) == 1
    with pytest.raises(NotAllowed, match=r"has finished \(complete\)"):
        await admin.cancel(queue.name, jobs[1].id)


async def test_info_on_a_million_pending_jobs_is_bounded(queue: Queue, admin: Admin) -> None:
    """Every read of ``info`` is O(1) or bounded: a million pending entries do not slow it."""
    redis = queue.redis
    entry = b"x" * 16
    per_call, calls = 10_000, 100
    async with redis.pipeline(transaction=False) as pipe:
        for _ in range(calls):
            pipe.lpush(queue.keys.pending, *([entry] * per_call))
        await pipe.execute()
    await redis.sadd(REGISTRY, queue.name)
    try:
        assert await redis.llen(queue.keys.pending) == 1_000_000
        await admin.info([queue.name])  # warm: connections made, scripts irrelevant
        started = time.perf_counter()
        [row] = await admin.info([queue.name])
        msgspec.json.encode({"queues": [row]})
        elapsed = time.perf_counter() - started
        assert row.pending == 1_000_000
        assert elapsed < 0.2, f"info took {elapsed * 1000:.0f} ms"
    finally:
        await redis.delete(queue.keys.pending)


async def test_two_retries_at_once_enqueue_the_job_once(queue: Queue, admin: Admin) -> None:
    @queue.task(name="once")
    async def once() -> None:
        raise RuntimeError("no")

    async with running_worker(queue):
        job = await once.delay()
        with pytest.raises(JobFailed):
            await job.result(timeout=10)
    outcomes: list[str] = []

    async def retry() -> None:
        try:
            await admin.retry(queue.name, job.id)
            outcomes.append("retried")
        except NotAllowed:
            outcomes.append("refused")

    async with anyio.create_task_group() as tg:
        tg.start_soon(retry)
        tg.start_soon(retry)
    assert sorted(outcomes) == ["refused", "retried"]
    assert await queue.inspect.pending_count() == 1
