"""The sharded queue of the Scaling out page, run by the test suite.

From this directory, with a Redis at ``$ASYNCJOBS_REDIS_URL``: ``python -m shards``.
"""

import anyio

from asyncjobs import Queue, Worker

# --8<-- [start:declare]
queue = Queue("events", shards=3)   # one queue over 3 hash slots: one per master of a 3-master cluster

@queue.task
async def track(user_id: int, event: str) -> str:
    return f"{event} by {user_id}"
# --8<-- [end:declare]


async def main() -> None:
    # --8<-- [start:use]
    jobs = [await track.delay(user_id, "login") for user_id in range(30)]  # spread over the shards
    job = jobs[7]
    assert queue.shard_of(job.id) in queue.shard_queues                   # its id names its shard
    print((await queue.inspect.counts()).pending)                          # 30: summed over shards
    # --8<-- [end:use]
    await Worker(queue, burst=True).run()                                  # serves every shard
    assert await queue.result(job.id, timeout=5) == "login by 7"
    assert (await queue.inspect.counts()).complete == 30
    await queue.aclose()
    print("ok")


if __name__ == "__main__":
    anyio.run(main)
