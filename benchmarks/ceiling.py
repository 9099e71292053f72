"""The ceiling: a minimal redis-py loop doing only what a reliable queue must do per job.

BLMOVE the job into a processing list, then one Lua script removes it and stores a result
(LREM + SET NX with a TTL). asyncjobs is reported as a fraction of this loop on the same server.
"""

from __future__ import annotations

import time

import anyio
import redis.asyncio as aredis

ACK = """
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 1 then
  redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', 3600000)
end
return 1
"""
QUEUE = "ceiling:{q}:pending"
PROCESSING = "ceiling:{q}:processing"


async def _fill(client: aredis.Redis, n: int) -> None:
    for start in range(0, n, 1000):
        async with client.pipeline(transaction=False) as pipe:
            for i in range(start, min(n, start + 1000)):
                pipe.lpush(QUEUE, f"job-{i}".encode() + b"x" * 60)
            await pipe.execute()


async def plain(url: str, n: int, consumers: int = 32) -> float:
    """Jobs/s with ``consumers`` coroutines, each BLMOVE then one ack script call per job."""
    client = aredis.Redis.from_url(url, max_connections=consumers + 4)
    ack = client.register_script(ACK)
    await _fill(client, n)
    done = 0

    async def consume() -> None:
        nonlocal done
        while done < n:
            entry = await client.blmove(QUEUE, PROCESSING, 1, "RIGHT", "LEFT")
            if entry is None:
                continue
            await ack(keys=[PROCESSING, f"ceiling:{{q}}:result:{entry[:12]!r}"], args=[entry, b"ok"])
            done += 1

    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(consumers):
            tg.start_soon(consume)
    elapsed = time.perf_counter() - began
    await client.delete(QUEUE, PROCESSING)
    await client.aclose()
    return n / elapsed


async def pipelined(url: str, n: int, batch: int = 100) -> float:
    """Jobs/s with one loop moving and acknowledging ``batch`` jobs per round trip each."""
    client = aredis.Redis.from_url(url)
    ack = client.register_script(ACK)
    await ack(keys=[PROCESSING, "ceiling:{q}:warm"], args=[b"", b"ok"])
    await _fill(client, n)
    done = 0
    began = time.perf_counter()
    while done < n:
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(batch):
                pipe.lmove(QUEUE, PROCESSING, "RIGHT", "LEFT")
            entries = [e for e in await pipe.execute() if e is not None]
        async with client.pipeline(transaction=False) as pipe:
            for entry in entries:
                await ack(keys=[PROCESSING, f"ceiling:{{q}}:result:{entry[:12]!r}"],
                          args=[entry, b"ok"], client=pipe)
            await pipe.execute()
        done += len(entries)
    elapsed = time.perf_counter() - began
    await client.delete(QUEUE, PROCESSING)
    await client.aclose()
    return n / elapsed
