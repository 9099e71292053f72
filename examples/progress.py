"""A job that reports its progress and keeps a log, and a middleware around every run. From the
repository root, start a worker::

    asyncjobs worker examples.progress:queue

then ``python -m examples.progress``.
"""

from __future__ import annotations

import time
from typing import Any

import anyio

from asyncjobs import CallNext, Context, Queue

queue = Queue("media")  # $ASYNCJOBS_REDIS_URL, else redis://localhost:6379/0


@queue.middleware
async def timed(ctx: Context, call_next: CallNext) -> Any:
    """Wraps every run of the queue's tasks: here, it logs how long each took."""
    started = time.perf_counter()
    try:
        return await call_next()
    finally:
        ctx.log(f"took {time.perf_counter() - started:.2f} s")


@queue.task
async def encode(ctx: Context, video_id: int) -> str:
    for step in range(1, 5):
        await anyio.sleep(0.25)  # the work
        await ctx.progress(step / 4, f"pass {step} of 4")
        ctx.log(f"pass {step} done")
    return f"video {video_id} encoded"


async def main() -> None:
    job = await encode.delay(42)
    seen: set[float] = set()
    while (info := await queue.inspect.job(job.id)) is None or info.finished_at is None:
        if info is not None and info.progress is not None and info.progress not in seen:
            seen.add(info.progress)
            print(f"  {info.progress:.0%} {info.progress_message}")
        await anyio.sleep(0.05)
    print("encode:", await job.result(timeout=10))
    print("progress seen while it ran:", any(0 < p < 1 for p in seen))
    print("final progress:", info.progress, info.progress_message)
    lines = [entry.line for entry in await queue.job_logs(job.id)]
    print("log:", " | ".join(lines[:4]), "|", lines[4].split()[0])
    await queue.aclose()


if __name__ == "__main__":
    anyio.run(main)
