"""Dependencies, a pipeline, a group with a callback, and the event stream. From the
repository root, start a worker::

    asyncjobs worker examples.workflows:queue

then ``python -m examples.workflows``.
"""

from __future__ import annotations

import time

import anyio

from asyncjobs import EventKind, Queue

queue = Queue("workflows")  # $ASYNCJOBS_REDIS_URL, else redis://localhost:6379/0


@queue.task
async def fetch(url: str) -> str:
    return f"<html>{url}</html>"


@queue.task
async def parse(page: str) -> int:
    return len(page)


@queue.task
async def store(size: int, table: str) -> str:
    return f"stored {size} in {table}"


@queue.task
async def publish(post_id: int) -> str:
    return f"post {post_id} published"


@queue.task
async def resize(path: str, width: int) -> str:
    return f"{path}@{width}"


@queue.task
async def make_album(paths: list[str]) -> str:
    return f"album of {len(paths)}: {', '.join(paths)}"


async def main() -> None:
    started = time.time()
    a, b = await fetch.delay("a.io"), await fetch.delay("b.io")
    job = await publish.options(after=[a, b]).delay(42)  # starts once a and b completed
    print("after:", await job.result(timeout=10))

    pipeline = fetch.call("c.io").then(parse).then(store, table="pages")
    print("pipeline:", await (await queue.enqueue(pipeline)).result(timeout=10))

    album = await queue.enqueue_group([resize.call(p, 640) for p in ("x.jpg", "y.jpg")],
                                      then=make_album)
    print("group:", await album.result(timeout=10))

    jobs = await queue.enqueue_many([parse.call("ab"), parse.call("abc")])
    print("gather:", await queue.gather(jobs, timeout=10))

    kinds = []  # the stream keeps the events: read back from when this run started
    async for event in queue.events(job_id=job.id, since=started):
        kinds.append(event.kind.value)
        if event.kind is EventKind.COMPLETED:
            break
    print("events of the publish job:", kinds)
    await queue.aclose()


if __name__ == "__main__":
    anyio.run(main)
