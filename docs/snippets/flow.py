"""The declarations of the Flow control page, run by the test suite.

From this directory, with a Redis at ``$ASYNCJOBS_REDIS_URL``: ``python -m flow``.
"""

from datetime import timedelta

import anyio

from asyncjobs import Queue, Worker

queue = Queue("flow-page")


@queue.task
async def send_invoice(invoice_id: int) -> str:
    return f"invoice {invoice_id} sent"


@queue.task
async def reindex(user_id: int) -> int:
    return user_id


# --8<-- [start:declare]
@queue.task(rate_limit="100/s")              # at most 100 starts per second ("N/s", "N/m", "N/h", RateLimit(...))
async def call_crm(contact_id: int) -> None: ...

@queue.task(max_concurrency=3)               # at most 3 running at once
async def render_video(video_id: int) -> str: ...

@queue.task(key_concurrency=1)               # at most 1 running at once per key
async def sync_customer(customer_id: int) -> None: ...
# --8<-- [end:declare]


async def enqueue(cid: int, iid: int, uid: int) -> None:
    # --8<-- [start:enqueue]
    await sync_customer.options(concurrency_key=f"customer-{cid}").delay(cid)
    job = await send_invoice.options(unique_key=f"invoice-{iid}").delay(iid)
    job = await send_invoice.options(unique_key=f"invoice-{iid}", unique="until_result_expires").delay(iid)
    job = await reindex.options(unique_key=f"reindex-{uid}", debounce=timedelta(seconds=2)).delay(uid)
    # --8<-- [end:enqueue]
    again = await reindex.options(unique_key=f"reindex-{uid}", debounce=timedelta(seconds=2)).delay(uid)
    assert again.id == job.id, "a debounced enqueue returns the waiting job"


async def main() -> None:
    worker = Worker(queue, concurrency=10)
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        await enqueue(1, 2, 3)
        first = await send_invoice.options(unique_key="invoice-9").delay(9)
        second = await send_invoice.options(unique_key="invoice-9").delay(9)
        assert first.id == second.id and await second.result(timeout=10) == "invoice 9 sent"
        worker.stop()
    await queue.aclose()
    print("ok")


if __name__ == "__main__":
    anyio.run(main)
