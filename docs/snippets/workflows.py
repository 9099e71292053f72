"""The examples of the Workflows and events page, run by the test suite.

From this directory, with a Redis at ``$ASYNCJOBS_REDIS_URL``: ``python -m workflows``.
"""

import time
from typing import Any

import anyio

from asyncjobs import CallNext, Context, Job, Queue, Worker

queue = Queue("workflows-page")


# --8<-- [start:reports]
@queue.middleware                        # wraps every run of the queue's tasks, in the worker
async def timed(ctx: Context, call_next: CallNext) -> Any:
    started = time.perf_counter()
    try:
        return await call_next()         # the task's value; raises what the task raised
    finally:
        ctx.log(f"took {time.perf_counter() - started:.2f} s")

@queue.task
async def encode(ctx: Context, video_id: int) -> str:
    await ctx.progress(0.5, "first pass done")   # JobInfo.progress, .progress_message
    ctx.log("bitrate 4200 kb/s")                  # kept with the job
    return f"video {video_id} encoded"
# --8<-- [end:reports]


@queue.task
async def fetch(url: str) -> str:
    return f"<html>{url}</html>"


@queue.task
async def thumbnail(path: str) -> str:
    return f"{path}.thumb"


@queue.task
async def publish(post_id: int) -> str:
    return f"post {post_id} published"


@queue.task
async def parse(page: str) -> int:
    return len(page)


@queue.task
async def store(size: int, table: str) -> str:
    return f"stored {size} in {table}"


@queue.task
async def resize(path: str, width: int) -> str:
    return f"{path}@{width}"


@queue.task
async def make_album(paths: list[str]) -> str:
    return f"album of {len(paths)}"


async def read_reports(job: Job[str]) -> None:
    # --8<-- [start:read_reports]
    info = await queue.inspect.job(job.id)           # info.progress: 0.0..1.0, or None
    for entry in await queue.job_logs(job.id):       # LogLine(at, line), oldest first
        print(entry.at, entry.line)
    # --8<-- [end:read_reports]
    assert info is not None and info.progress == 0.5


async def workflows(url: str, path: str, post_id: int, paths: list[str]) -> None:
    # --8<-- [start:workflows]
    a, b = await fetch.delay(url), await thumbnail.delay(path)
    job = await publish.options(after=[a, b]).delay(post_id)          # starts once a and b completed
    job = await publish.options(after=[a], on_dependency_failure="run").delay(post_id)

    pipeline = fetch.call(url).then(parse).then(store, table="posts")  # each step gets the last value
    last = await queue.enqueue(pipeline)                               # Job[str] of the last step

    album = await queue.enqueue_group([resize.call(p, 640) for p in paths], then=make_album)
    sizes = await queue.gather(await queue.enqueue_many([parse.call(p) for p in paths]), timeout=60)
    # --8<-- [end:workflows]
    assert await job.result(timeout=10) == f"post {post_id} published"
    assert await last.result(timeout=10) == f"stored {len(url) + 13} in posts"
    assert await album.result(timeout=10) == f"album of {len(paths)}"
    assert sizes == [len(p) for p in paths]


async def events(job: Job[str], started_at: float) -> None:
    # --8<-- [start:events]
    async for event in queue.events(job_id=job.id, since=started_at):   # or since=None: from now
        print(event.job_id, event.kind, event.at, event.data)  # enqueued, started, progress, ...
        if event.kind == "completed":
            break
    # --8<-- [end:events]


async def main() -> None:
    worker = Worker(queue, concurrency=10)
    started_at = time.time()
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        job = await encode.delay(7)
        assert await job.result(timeout=10) == "video 7 encoded"
        await read_reports(job)
        await workflows("a.io", "p.jpg", 42, ["x.jpg", "yy.jpg"])
        with anyio.fail_after(10):
            await events(job, started_at)
        worker.stop()
    await queue.aclose()
    print("ok")


if __name__ == "__main__":
    anyio.run(main)
