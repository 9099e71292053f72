"""Unique jobs, debounce, a concurrency limit and a rate limit. From the repository root, start
a worker::

    asyncjobs worker examples.flow_control:queue

then ``python -m examples.flow_control``.
"""

from __future__ import annotations

import time
from datetime import timedelta

import anyio

from asyncjobs import Queue

queue = Queue("flow")  # $ASYNCJOBS_REDIS_URL, else redis://localhost:6379/0


@queue.task
async def send_invoice(invoice_id: int) -> str:
    return f"invoice {invoice_id} sent"


@queue.task
async def reindex(version: int) -> int:
    return version


@queue.task(max_concurrency=2)  # across every worker
async def render(video_id: int) -> float:
    started = time.time()
    await anyio.sleep(0.2)
    return started


@queue.task(rate_limit="20/s")  # across every worker
async def call_crm(contact_id: int) -> float:
    return time.time()


async def main() -> None:
    first = await send_invoice.options(unique_key="invoice-1").delay(1)
    again = await send_invoice.options(unique_key="invoice-1").delay(1)
    print("one invoice job:", first.id == again.id, await again.result(timeout=10))

    debounced = reindex.options(unique_key="user-7", debounce=timedelta(seconds=0.3))
    jobs = [await debounced.delay(version) for version in range(3)]
    print("one reindex job:", len({job.id for job in jobs}) == 1,
          "with the last arguments:", await jobs[0].result(timeout=10))

    starts = sorted([await job.result(timeout=10) for job in
                     await queue.enqueue_many([render.call(n) for n in range(6)])])
    print("render: 6 jobs, 2 at a time:", starts[-1] - starts[0] >= 0.35)

    stamps = [await job.result(timeout=10) for job in
              await queue.enqueue_many([call_crm.call(n) for n in range(10)])]
    print("call_crm: 10 starts at 20/s:", max(stamps) - min(stamps) >= 0.4)
    await queue.aclose()


if __name__ == "__main__":
    anyio.run(main)
