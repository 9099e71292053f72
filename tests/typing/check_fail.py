"""Each line marked ``# E: <code>`` must be reported by ``mypy --strict`` with that code, and
by pyright strict (with a code of its own)."""
# pyright: strict

from __future__ import annotations

from asyncjobs import Context, Queue

queue = Queue("typing")


@queue.task
async def send_email(to: str, subject: str, body: str = "") -> dict[str, str]:
    return {"to": to}


@queue.task
def resize(path: str, width: int) -> str:
    return path


@queue.task
async def with_context(ctx: Context, n: int) -> int:
    return n


@queue.task
async def fetch_page(url: str) -> str:
    return url


@queue.task
async def store_size(size: int, table: str) -> bool:
    return size > 0


async def main() -> None:
    await send_email.delay(1)  # E: arg-type
    await send_email.delay("a")  # E: call-arg
    await send_email.delay("a", "b", bcc="c")  # E: call-arg
    await resize.delay("a.jpg", "wide")  # E: arg-type
    await with_context.delay("three")  # E: arg-type
    value: int = await (await send_email.delay("a", "b")).result()  # E: assignment
    text: int = await (await resize.delay("a", 1)).result()  # E: assignment
    resize.call(width=1)  # E: call-arg
    await send_email.options(priority="high").delay("a", "b")  # E: arg-type
    await send_email.options(priority=9).delay(1, "b")  # E: arg-type
    fetch_page.call("a").then(store_size, table="t")  # E: arg-type
    fetch_page.call("a").then(resize, width="wide")  # E: arg-type
    await queue.enqueue_group([resize.call("a", 1)], then=store_size)  # E: arg-type
    size: str = (await queue.gather([await store_size.delay(1, "t")]))[0]  # E: assignment
    store_size.options(after=[1])  # E: list-item


def produce_without_an_event_loop() -> None:
    send_email.delay_sync(1)  # E: arg-type
    send_email.delay_sync("a")  # E: call-arg
    resize.delay_sync("a.jpg", "wide")  # E: arg-type
    number: int = send_email.delay_sync("a", "b").result()  # E: assignment
    send_email.options(priority=9).delay_sync(1, "b")  # E: arg-type
