"""The blocking producer of the Sync producers page, run whole by the test suite.

From this directory, with a Redis at ``$ASYNCJOBS_REDIS_URL``: ``python -m sync_producer``. The
worker runs in a thread of its own here (a blocking portal), as it would in another process.
"""

from anyio.from_thread import start_blocking_portal

from app import queue, resize, send_email
from asyncjobs import Worker


def produce() -> None:
    # --8<-- [start:sync]
    job = send_email.delay_sync("a@example.com", "Welcome")   # SyncJob[dict[str, str]], once it is in Redis
    value = job.result(timeout=10)                               # dict[str, str]; blocks
    info = job.info()                                            # JobInfo | None
    job = resize.options(job_id="cover-1280", priority=5).delay_sync("cover.jpg", 1280)
    jobs = queue.enqueue_many_sync([resize.call(f"img{i}.jpg", 640) for i in range(1000)])
    value = queue.result_sync(job.id, timeout=10)                # by id, from any process
    info = queue.job_sync(job.id)                                # JobInfo | None
    queue.cancel_sync(job.id)                                    # True when cancelled
    counts = queue.counts_sync()                                 # QueueCounts, as queue.inspect.counts()
    queue.close_sync()                                           # optional: this process's connections
    # --8<-- [end:sync]
    assert value == "cover-1280.jpg"
    assert info is not None and info.priority == 5
    assert [j.result(timeout=30) for j in jobs] == [f"img{i}-640.jpg" for i in range(1000)]
    assert counts.workers == 1


if __name__ == "__main__":
    with start_blocking_portal() as portal:
        worker = Worker(queue, concurrency=20)
        running = portal.start_task_soon(worker.run)
        produce()
        portal.call(worker.stop)
        running.result()
        portal.call(queue.aclose)
    queue.close_sync()
    print("ok")
