"""The example app of the README. From the repository root, start a worker::

    asyncjobs worker examples.app:queue

then ``python -m examples.app`` enqueues three jobs and prints their results. Its tasks are
named ``examples.app.send_email`` and so on both ways, since ``python -m`` keeps the import name.
"""

from __future__ import annotations

import anyio

from asyncjobs import Context, Queue

queue = Queue("emails")  # $ASYNCJOBS_REDIS_URL, else redis://localhost:6379/0


@queue.on_startup
async def open_clients(state: dict[str, object]) -> None:
    state["smtp"] = "smtp-client"  # e.g. a connection pool shared by every task


@queue.task
async def send_email(to: str, subject: str, body: str = "") -> dict[str, str]:
    await anyio.sleep(0.05)  # talk to the mail server
    return {"to": to, "status": "sent"}


@queue.task(name="images.resize", timeout=30.0, result_ttl=600)
def resize(path: str, width: int) -> str:
    return path.replace(".jpg", f"-{width}.jpg")  # plain def: runs in a worker thread


@queue.task(timeout=10.0)
async def report(ctx: Context, customer_id: int) -> str:
    return f"report for {customer_id}, attempt {ctx.attempt}, via {ctx.state['smtp']}"


async def main() -> None:
    job = await send_email.delay("a@example.com", "Welcome")
    print(job.id, await job.result(timeout=10))
    print(await (await resize.delay("cat.jpg", 640)).result(timeout=10))
    print(await queue.result((await report.delay(42)).id, timeout=10))
    await queue.aclose()


if __name__ == "__main__":
    anyio.run(main)
