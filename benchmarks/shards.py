"""A sharded queue on a Redis Cluster of 3 masters: W2 drain with ``shards=1`` and ``shards=3``,
interleaved, and the Redis CPU each master spent.

    python -m benchmarks.shards [--jobs 20000] [--rounds 3] [--processes 1]

Each round enqueues ``--jobs`` no-op jobs (bulk) and drains them with ``--processes`` burst
worker processes at concurrency 100, once per layout; the order alternates between rounds. The
cluster (3 masters, no replicas, even slot ranges) is started here on loopback. Prints, per
layout, the median drain rate and the Redis CPU seconds per 1,000 jobs (enqueue and drain) of
each master, and how the busiest master's CPU with 3 shards compares with 1 shard's: the share
of the work one master carries. On a machine with fewer cores than masters plus workers, the
wall-clock rate cannot grow with the masters; the CPU split shows what more cores would give.
"""

from __future__ import annotations

import argparse
import statistics

import anyio

from asyncjobs.server import ClusterServers
from benchmarks.__main__ import bench_queue, start_worker
from benchmarks.cluster import _node_cpu


async def drain(url: str, shards: int, n: int, ports: list[int], processes: int
                ) -> tuple[float, list[float]]:
    """Jobs/s of one drain, and each master's Redis CPU seconds per 1,000 jobs."""
    queue = bench_queue(url, shards)
    noop = queue.tasks["noop"]
    before = [_node_cpu(port) for port in ports]
    jobs = []
    for base in range(0, n, 1000):
        jobs += await queue.enqueue_many([noop.call() for _ in range(min(1000, n - base))])
    workers = [start_worker(url, queue, "--burst", "--concurrency", "100")
               for _ in range(processes)]
    for worker in workers:
        await anyio.to_thread.run_sync(worker.wait)
    after = [_node_cpu(port) for port in ports]
    async with queue.redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            pipe.hmget(queue.shard_of(job.id).keys.job(job.id), ["st", "f"])
        marks = await pipe.execute()
    assert (await queue.inspect.counts()).complete == n
    await queue.aclose()
    seconds = max(float(f) for _, f in marks) - min(float(st) for st, _ in marks)
    return n / seconds, [(b - a) * 1000 / n for a, b in zip(before, after, strict=True)]


async def main(args: argparse.Namespace) -> None:
    cluster = ClusterServers(replicas=0).start()
    ports = [node.port for node in cluster.nodes]
    try:
        for shards in (1, 3):  # warm-up
            await drain(cluster.url, shards, 2000, ports, args.processes)
        runs: dict[int, list[tuple[float, list[float]]]] = {1: [], 3: []}
        for i in range(args.rounds):
            for shards in ((1, 3) if i % 2 == 0 else (3, 1)):
                runs[shards].append(await drain(cluster.url, shards, args.jobs, ports,
                                                args.processes))
        busiest: dict[int, float] = {}
        for shards, figures in runs.items():
            rates = [rate for rate, _ in figures]
            # by rank, busiest first: a queue's slot (so its master) differs from run to run
            ranked = [sorted(cpu, reverse=True) for _, cpu in figures]
            per_master = [statistics.median(cpu[rank] for cpu in ranked) for rank in range(3)]
            busiest[shards] = per_master[0]
            print(f"shards={shards}: median {statistics.median(rates):,.0f} jobs/s (runs: "
                  f"{', '.join(f'{r:,.0f}' for r in rates)}); Redis CPU s per 1,000 jobs by "
                  f"master, busiest first: {', '.join(f'{c:.3f}' for c in per_master)} "
                  f"(all: {statistics.median(sum(cpu) for cpu in ranked):.3f})")
        print(f"busiest master, shards=3 / shards=1: {busiest[3] / busiest[1]:.0%}")
    finally:
        cluster.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=1, help="burst worker processes")
    anyio.run(main, parser.parse_args())
