"""BullMQ (Node, ioredis): one ``Worker`` process, ``concurrency`` = N, other settings default.

BullMQ's producer side runs in Node too: ``benchmarks/peers/node/bullmq_bench.js producer`` is a
process this class starts and sends requests to, one JSON line each. W1 and W3 are loops timed
in that process (``time_sends``, ``time_send_many``, ``pickups``: the driver's own loops, in
Node), so no request crosses the pipe inside a timed loop. The bulk API is ``Queue.addBulk``;
callers wait with ``job.waitUntilFinished(queueEvents)``.

The worker keeps completed jobs an hour (``removeOnComplete: {age: 3600}``), as asyncjobs keeps
results (``result_ttl``) and arq (``keep_result``). W2's drain is measured as for every system:
jobs over the span from the first to the last job's own stamp, the time the no-op returns, read
back from each job's hash (``returnvalue``, as ``Job.fromId`` reads it).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

from benchmarks.peers.resp import Redis

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "bullmq_bench.js"
PREFIX = "bull:bench:"


class System:
    name = "bullmq"
    version = "?"
    settings = ("Node: `Worker` with `concurrency: N`, `removeOnComplete: {age: 3600}` (results kept an "
                "hour), producer `Queue.add`, bulk: `addBulk`; callers wait with "
                "`waitUntilFinished(QueueEvents)`; other settings default")
    bulk = True
    concurrent = True
    real_work = True
    node: asyncio.subprocess.Process
    redis: Redis

    async def open(self, url: str) -> None:
        self.node = await asyncio.create_subprocess_exec(
            node(), str(SCRIPT), "producer", cwd=NODE_DIR, env={**os.environ, "BENCH_REDIS_URL": url},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 24,
        )
        versions = await self.reply()
        self.version = f"{versions['bullmq']} (ioredis {versions['ioredis']}, Node {versions['node']})"
        self.redis = Redis(url)

    async def reply(self) -> Any:
        assert self.node.stdout is not None
        line = await self.node.stdout.readline()
        if not line:
            raise RuntimeError(f"the BullMQ producer exited ({await self.node.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"BullMQ producer: {answer['error']}")
        return answer["value"]

    async def call(self, op: str, **args: Any) -> Any:
        assert self.node.stdin is not None
        self.node.stdin.write(json.dumps({"op": op, **args}).encode() + b"\n")
        await self.node.stdin.drain()
        return await self.reply()

    async def reset(self) -> None:
        await self.call("reset")

    async def close(self) -> None:
        assert self.node.stdin is not None
        self.node.stdin.close()
        try:
            await asyncio.wait_for(self.node.wait(), 15)
        except TimeoutError:
            self.node.kill()
            await self.node.wait()
        self.redis.close()

    async def time_sends(self, n: int) -> float:
        return float(await self.call("sends", n=n))

    async def time_sends_at_once(self, n: int, producers: int) -> float:
        return float(await self.call("sends_at_once", n=n, producers=producers))

    async def time_send_many(self, n: int) -> float:
        return float(await self.call("send_many", n=n))

    async def pickups(self, n: int) -> tuple[list[float], list[float]]:
        times = await self.call("pickups", n=n)
        return times["start"], times["seen"]

    async def enqueue(self, task: str, args: list[tuple[Any, ...]]) -> list[str]:
        ids: list[str] = await self.call("add", task=task, args=args)
        return ids

    async def result(self, job_id: str) -> Any:
        value, failure = self.redis("HMGET", PREFIX + job_id, "returnvalue", "failedReason")
        if failure is not None:
            raise RuntimeError(f"BullMQ job {job_id} failed: {failure.decode()}")
        return None if value is None else json.loads(value)

    def worker_argv(self, concurrency: int) -> list[str]:
        return [node(), str(SCRIPT), "worker"]


def node() -> str:
    return shutil.which("node") or "node"
