"""Priorities, expiry, cancellation and pause. From the repository root, start a worker (one
job at a time, so that the start order shows)::

    asyncjobs worker examples.scheduling:queue --concurrency 1

then ``python -m examples.scheduling`` pauses the queue, enqueues jobs of three priorities and
one that expires, resumes it, and cancels a long job while it runs.
"""

from __future__ import annotations

from datetime import timedelta

import anyio

from asyncjobs import Job, JobCancelled, JobExpired, JobState, Queue

queue = Queue("orders")  # $ASYNCJOBS_REDIS_URL, else redis://localhost:6379/0


@queue.task(priority=5)  # the default priority of its jobs: 0..9, higher starts first
async def charge(order_id: int) -> str:
    return f"charged order {order_id}"


@queue.task
async def export(report_id: int) -> str:
    await anyio.sleep(60)  # a long job, cancelled below
    return f"report {report_id}"


async def until_running(job: Job[str]) -> None:
    for _ in range(200):
        info = await job.info()
        if info is not None and info.status is JobState.RUNNING:
            return
        await anyio.sleep(0.05)
    raise TimeoutError(f"job {job.id} did not start")


async def main() -> None:
    await queue.pause()  # jobs are taken, none starts
    jobs = [await charge.options(priority=0).delay(1), await charge.delay(2),
            await charge.options(priority=9).delay(3)]
    stale = await charge.options(expires=timedelta(milliseconds=100)).delay(4)
    await anyio.sleep(0.2)  # the queue stays paused until after that job's expiry
    print("paused:", await queue.is_paused())
    await queue.resume()  # order 3 (priority 9) starts first, then 2 (5), then 1 (0)
    for job in jobs:
        print(await job.result(timeout=10))
    starts = {order: info.started_at for order, job in enumerate(jobs, 1) if (info := await job.info())}
    print("started: orders", ", ".join(str(order) for order in sorted(starts, key=lambda o: starts[o] or 0)))
    try:
        await stale.result(timeout=10)
    except JobExpired:
        print("order 4 expired before it started: it never ran")

    long = await export.delay(7)
    await until_running(long)
    print("cancelled:", await long.cancel())  # stops it on its worker
    try:
        await long.result(timeout=10)
    except JobCancelled:
        print("report 7 was cancelled while it ran")
    await queue.aclose()


if __name__ == "__main__":
    anyio.run(main)
