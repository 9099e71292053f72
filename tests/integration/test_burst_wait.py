"""A burst worker with ``burst_wait`` also runs the retries its jobs schedule."""

from __future__ import annotations

import pytest

from asyncjobs import Context, JobStatus, Queue, Retry, Worker

pytestmark = pytest.mark.anyio


def flaky(queue: Queue, retry_after: float) -> None:
    @queue.task(name="flaky", retries=1)
    async def flaky(ctx: Context) -> int:
        if ctx.attempt == 1:
            raise Retry(delay=retry_after)
        return ctx.attempt


async def test_a_burst_worker_exits_while_a_retry_is_scheduled(queue: Queue) -> None:
    flaky(queue, retry_after=30)
    job = await queue.tasks["flaky"].delay()
    await Worker(queue, burst=True, burst_wait=10).run()  # the retry is due later than that
    info = await job.info()
    assert info is not None and info.status is JobStatus.SCHEDULED and info.attempts == 1


async def test_burst_wait_runs_the_retry_before_exiting(queue: Queue) -> None:
    flaky(queue, retry_after=0.5)
    job = await queue.tasks["flaky"].delay()
    await Worker(queue, burst=True, burst_wait=30).run()
    assert await job.result(timeout=1) == 2
    assert (await queue.inspect.stats()).get("retried") == 1
