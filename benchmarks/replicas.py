"""What ``Settings(enqueue_replicas=1)`` costs: ``.delay()`` with and without it, interleaved,
on a master with one replica (both on this machine).

    python -m benchmarks.replicas [--rounds 5] [--jobs 4000]

For one producer and for 50 concurrent producers (one event loop), each round enqueues
``--jobs`` jobs with ``enqueue_replicas`` 0 and 1 (the order alternates between rounds), and
prints the medians: jobs per second, and the p50 and p99 of one ``.delay()`` in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import redis

from asyncjobs import Queue, Settings
from asyncjobs.server import RedisServer


async def run(url: str, *, replicas: int, producers: int, jobs: int) -> tuple[float, float, float]:
    """Jobs per second, p50 and p99 ms of ``jobs`` enqueues by ``producers``."""
    queue = Queue(f"replicas-{uuid.uuid4().hex[:8]}", url,
                  settings=Settings(enqueue_replicas=replicas))

    @queue.task
    async def noop(n: int) -> None:
        return None

    await noop.delay(0)  # connect and load the script before timing
    each = jobs // producers
    latencies: list[float] = []

    async def produce() -> None:
        for n in range(each):
            began = time.perf_counter()
            await noop.delay(n)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(produce() for _ in range(producers)))
    wall = time.perf_counter() - began
    await queue.redis.delete(queue.keys.pending, queue.keys.queued)
    await queue.aclose()
    cuts = statistics.quantiles(latencies, n=100)
    return each * producers / wall, cuts[49] * 1000, cuts[98] * 1000


def replicate(replica: RedisServer, master: RedisServer) -> None:
    with redis.Redis(port=replica.port) as client:
        client.replicaof("127.0.0.1", master.port)
        while client.info("replication").get("master_link_status") != "up":
            time.sleep(0.05)


async def main(rounds: int, jobs: int) -> None:
    args = ("--repl-diskless-sync-delay", "0")
    master, replica = RedisServer(extra_args=args).start(), RedisServer(extra_args=args).start()
    results: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
    try:
        replicate(replica, master)
        for number in range(rounds):
            for producers in (1, 50):
                for replicas in (0, 1) if number % 2 == 0 else (1, 0):
                    figures = await run(master.url, replicas=replicas, producers=producers,
                                        jobs=jobs)
                    results.setdefault((producers, replicas), []).append(figures)
    finally:
        replica.cleanup()
        master.cleanup()
    print("| producers | enqueue_replicas | jobs/s | .delay() p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for (producers, replicas), figures in sorted(results.items()):
        rate, p50, p99 = (statistics.median(f[i] for f in figures) for i in range(3))
        print(f"| {producers} | {replicas} | {rate:,.0f} | {p50:.2f} | {p99:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=4000)
    options = parser.parse_args()
    asyncio.run(main(options.rounds, options.jobs))
