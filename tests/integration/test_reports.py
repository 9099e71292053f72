"""What a running job reports (progress, log lines) and middleware around every run, with a
real server and a real worker."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from asyncjobs import CallNext, ConfigError, Context, JobFailed, Queue, Retry
from asyncjobs.protocol import LOG_LINES_KEPT
from tests.support.waiting import wait_until

from .conftest import running_worker

pytestmark = pytest.mark.anyio


async def _progress(queue: Queue, job_id: str) -> tuple[float | None, str | None]:
    info = await queue.inspect.job(job_id)
    assert info is not None
    return info.progress, info.progress_message


async def test_progress_and_logs_of_an_async_task_are_seen_while_it_runs(queue: Queue) -> None:
    gate = anyio.Event()

    @queue.task
    async def encode(ctx: Context, video: int) -> str:
        await ctx.progress(0.5, "first pass done")
        ctx.log(f"bitrate for {video}: 4200 kb/s")
        await gate.wait()
        ctx.progress(1.0)  # awaiting is optional
        ctx.log("second pass done")
        return "ok"

    async with running_worker(queue):
        job = await encode.delay(7)
        await wait_until(lambda: _is(queue, job.id, (0.5, "first pass done")), 10,
                         "the progress while it runs")
        await wait_until(lambda: queue.job_logs(job.id), 10, "the first log line")
        assert [line.line for line in await queue.job_logs(job.id)] == ["bitrate for 7: 4200 kb/s"]
        gate.set()
        assert await job.result(timeout=10) == "ok"
    # the last reports are written before the outcome: no wait needed once it is stored
    assert await _progress(queue, job.id) == (1.0, None)
    lines = await queue.inspect.job_logs(job.id)
    assert [line.line for line in lines] == ["bitrate for 7: 4200 kb/s", "second pass done"]
    assert lines[0].at <= lines[1].at
    logs_ttl = await queue.redis.pttl(queue.keys.logs(job.id))
    record_ttl = await queue.redis.pttl(queue.keys.job(job.id))
    assert 0 < logs_ttl <= record_ttl + 50, "the logs expire with the record"


async def _is(queue: Queue, job_id: str, expected: tuple[float, str]) -> bool:
    return await _progress(queue, job_id) == expected


async def test_a_plain_task_reports_from_its_thread(queue: Queue) -> None:
    release = threading.Event()

    @queue.task
    def crunch(ctx: Context, n: int) -> int:
        ctx.progress(0.25, "a quarter")
        ctx.log("crunching")
        release.wait(10)
        return n * 2

    async with running_worker(queue):
        job = await crunch.delay(21)
        await wait_until(lambda: _is(queue, job.id, (0.25, "a quarter")), 10, "the progress")
        await wait_until(lambda: queue.job_logs(job.id), 10, "the log line")
        release.set()
        assert await job.result(timeout=10) == 42


async def test_only_the_last_lines_are_kept_and_lines_are_cut(queue: Queue) -> None:
    @queue.task
    async def chatty(ctx: Context) -> None:
        for n in range(LOG_LINES_KEPT + 500):
            ctx.log(f"line {n}")
        ctx.log("x" * 10_000)

    async with running_worker(queue):
        job = await chatty.delay()
        await job.result(timeout=10)
    lines = [line.line for line in await queue.job_logs(job.id)]
    assert len(lines) == LOG_LINES_KEPT
    assert lines[0] == "line 501" and lines[-2] == f"line {LOG_LINES_KEPT + 499}"
    assert lines[-1] == "x" * 2000


async def test_logs_of_every_attempt_are_kept_in_order(queue: Queue) -> None:
    @queue.task(retries=2)
    async def flaky(ctx: Context) -> int:
        ctx.log(f"attempt {ctx.attempt}")
        if ctx.attempt == 1:
            raise Retry(delay=0.01)
        return ctx.attempt

    async with running_worker(queue):
        job = await flaky.delay()
        assert await job.result(timeout=10) == 2
    assert [line.line for line in await queue.job_logs(job.id)] == ["attempt 1", "attempt 2"]


async def test_bad_reports_fail_the_attempt_with_a_clear_error(queue: Queue) -> None:
    @queue.task
    async def overshoot(ctx: Context) -> None:
        await ctx.progress(1.5)

    @queue.task
    async def not_text(ctx: Context) -> None:
        ctx.log(42)  # type: ignore[arg-type]

    async with running_worker(queue):
        first, second = await overshoot.delay(), await not_text.delay()
        with pytest.raises(JobFailed, match=r"progress must be a number from 0\.0 to 1\.0, not 1\.5"):
            await first.result(timeout=10)
        with pytest.raises(JobFailed, match="a log line must be a str, not int"):
            await second.result(timeout=10)


async def test_a_report_for_a_job_that_no_longer_runs_writes_nothing(queue: Queue) -> None:
    @queue.task
    async def quick() -> int:
        return 1

    async with running_worker(queue):
        job = await quick.delay()
        await job.result(timeout=10)
    scripts = queue.connection().scripts
    assert await scripts.note(job.id, 0.5, "late", ["1.0 late line"]) is False
    assert await scripts.note("never-enqueued", None, "", ["1.0 lost"]) is False
    assert await queue.redis.exists(queue.keys.logs(job.id), queue.keys.logs("never-enqueued")) == 0
    info = await queue.inspect.job(job.id)
    assert info is not None and info.progress is None


async def test_middleware_wraps_every_run_in_order_and_sees_the_outcome(queue: Queue) -> None:
    seen: list[Any] = []

    @queue.middleware
    async def outer(ctx: Context, call_next: CallNext) -> Any:
        seen.append(("outer in", ctx.task, ctx.attempt))
        try:
            value = await call_next()
        except ValueError as exc:
            seen.append(("outer saw", str(exc)))
            raise
        seen.append(("outer out", value))
        return value

    @queue.middleware
    async def inner(ctx: Context, call_next: CallNext) -> Any:
        seen.append(("inner in", ctx.job_id))
        return await call_next() * 10

    @queue.task
    async def add(a: int, b: int) -> int:  # takes no Context: the middleware still gets one
        seen.append("task")
        return a + b

    @queue.task
    def explode() -> None:
        raise ValueError("boom")

    async with running_worker(queue):
        job = await add.delay(1, 2)
        assert await job.result(timeout=10) == 30
        assert seen == [("outer in", add.name, 1), ("inner in", job.id), "task", ("outer out", 30)]
        seen.clear()
        failing = await explode.delay()
        with pytest.raises(JobFailed, match="boom"):
            await failing.result(timeout=10)
        assert seen[-1] == ("outer saw", "boom")


async def test_an_error_in_middleware_fails_the_attempt_like_a_task_error(queue: Queue) -> None:
    ran: list[int] = []

    @queue.middleware
    async def refuse(ctx: Context, call_next: CallNext) -> Any:
        if ctx.attempt == 1:
            raise PermissionError("not on the first attempt")
        return await call_next()

    @queue.task(retries=1)
    async def guarded(n: int) -> int:
        ran.append(n)
        return n

    async with running_worker(queue):
        job = await guarded.delay(5)
        assert await job.result(timeout=10) == 5
    info = await queue.inspect.job(job.id)
    assert info is not None and info.attempts == 2
    assert ran == [5], "the task ran only on the attempt the middleware let through"


async def test_a_middleware_must_be_async(queue: Queue) -> None:
    def plain(ctx: Context, call_next: CallNext) -> Any:
        return call_next()

    with pytest.raises(ConfigError, match="middleware .*plain.* must be an async def"):
        queue.middleware(plain)
