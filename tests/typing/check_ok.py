"""Must type-check cleanly under ``mypy --strict`` and pyright strict: the public API is generic."""
# pyright: strict

from __future__ import annotations

from datetime import timedelta
from typing import Any, assert_type

from asyncjobs import (
    AsyncTask,
    Call,
    CallNext,
    Context,
    Event,
    Job,
    JobInfo,
    LogLine,
    Pipeline,
    Queue,
    QueueCounts,
    ScheduleInfo,
    SyncJob,
    SyncTask,
)

queue = Queue("typing")


@queue.task
async def send_email(to: str, subject: str, body: str = "") -> dict[str, str]:
    return {"to": to}


@queue.task(name="images.resize", timeout=30.0, result_ttl=600)
def resize(path: str, width: int) -> str:
    return path


@queue.task
async def with_context(ctx: Context, n: int) -> int:
    await ctx.progress(0.5, "half")
    ctx.log("halfway")
    return ctx.attempt + n


@queue.task
async def fetch_page(url: str) -> str:
    return url


@queue.task
def parse_page(page: str, times: int = 1) -> int:
    return len(page) * times


@queue.task
async def store_size(size: int, table: str) -> bool:
    return size > 0


@queue.task
async def count_all(paths: list[str]) -> int:
    return len(paths)


@queue.middleware
async def timed(ctx: Context, call_next: CallNext) -> Any:
    return await call_next()


@queue.cron("*/5 * * * *", tz="Europe/Paris")
async def cleanup() -> int:
    return 0


@queue.cron(every=timedelta(seconds=30), name="heartbeat-report")
def heartbeat_report(ctx: Context) -> None:
    return None


async def main() -> None:
    assert isinstance(send_email, AsyncTask) and isinstance(resize, SyncTask)
    job = await send_email.delay("a@example.com", "Welcome")
    assert_type(job, Job[dict[str, str]])
    assert_type(await job.result(timeout=10), dict[str, str])
    assert_type(await (await send_email.delay("a", "b", body="c")).result(), dict[str, str])
    assert_type(await (await resize.delay("a.jpg", 640)).result(), str)
    assert_type(await (await with_context.delay(3)).result(), int)
    assert_type(await send_email("a", "hi"), dict[str, str])
    assert_type(resize("a.jpg", 1), str)
    assert_type(await with_context(1), int)
    call = resize.call("b.jpg", 10)
    assert_type(call, Call[str])
    assert_type(await queue.enqueue_many([call]), list[Job[str]])
    assert_type(await job.info(), JobInfo | None)
    assert_type(await queue.inspect.job(job.id), JobInfo | None)
    urgent = send_email.options(priority=9, expires=timedelta(minutes=5))
    assert_type(await (await urgent.delay("a", "b")).result(), dict[str, str])
    assert_type(await job.cancel(), bool)
    assert_type(await queue.cancel(job.id), bool)
    assert_type(await queue.is_paused(), bool)
    assert_type(cleanup, AsyncTask[[], int])
    assert_type(heartbeat_report, SyncTask[[], None])
    assert_type(await (await cleanup.delay()).result(), int)
    assert_type(await queue.schedule("nightly-42", resize.call("a.jpg", 1), cron="0 3 * * *"),
                ScheduleInfo)
    assert_type(await queue.unschedule("nightly-42"), bool)
    assert_type(await queue.schedules(), list[ScheduleInfo])
    pipeline = fetch_page.call("a.io").then(parse_page, times=2).then(store_size, table="posts")
    assert_type(pipeline, Pipeline[bool])
    assert_type(await queue.enqueue(pipeline), Job[bool])
    after = await parse_page.options(after=[job, "an-id"], on_dependency_failure="run").delay("x")
    assert_type(after, Job[int])
    assert_type(await queue.gather([after], timeout=5), list[int])
    assert_type(await queue.enqueue_group([resize.call("a.jpg", 1)], then=count_all), Job[int])
    async for event in queue.events(job_id=job.id):
        assert_type(event, Event)
        break
    assert_type(await queue.job_logs(job.id), list[LogLine])


def produce_without_an_event_loop() -> None:
    job = send_email.delay_sync("a@example.com", "Welcome")
    assert_type(job, SyncJob[dict[str, str]])
    assert_type(job.result(timeout=10), dict[str, str])
    assert_type(resize.delay_sync("a.jpg", 640).result(), str)
    assert_type(with_context.delay_sync(3).result(), int)
    assert_type(send_email.options(priority=9).delay_sync("a", "b").result(), dict[str, str])
    assert_type(job.info(), JobInfo | None)
    assert_type(job.cancel(), bool)
    assert_type(queue.enqueue_sync(resize.call("b.jpg", 10)), SyncJob[str])
    assert_type(queue.enqueue_many_sync([resize.call("b.jpg", 10)]), list[SyncJob[str]])
    assert_type(queue.result_sync(job.id, timeout=5), Any)
    assert_type(queue.counts_sync(), QueueCounts)
    assert_type(queue.job_sync(job.id), JobInfo | None)
    assert_type(queue.cancel_sync(job.id), bool)
