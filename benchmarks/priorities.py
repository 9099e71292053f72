"""W2 drain and W3 pickup with priorities unused, and with jobs spread over three levels.

    python -m benchmarks.priorities [--runs 3] [--jobs 20000] [--latency-jobs 300]

One redis-server on a free loopback port and one worker process (concurrency 100), as in the
peer driver. Each round runs every case, the order reversed every other round; the table gives
the medians (min-max). Drain is measured from the first job's start to the last one's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from benchmarks.peers.driver import Worker, flush, percentiles, results, startup_cpu
from benchmarks.peers.resp import Redis
from benchmarks.rounds import in_turn, on_own_server

CASES = {"priority 0 only": (0,), "priorities 0, 4, 9": (0, 4, 9)}


async def drain(system: Any, redis: Redis, url: str, n: int, levels: tuple[int, ...]) -> dict[str, float]:
    from benchmarks.peers.systems.asyncjobs_app import noop, queue

    baseline = await startup_cpu(system, redis, url)
    await flush(system, redis)
    options = [noop.options(priority=level) for level in levels]
    handles: list[Any] = []
    for base in range(0, n, 1000):
        handles += await queue.enqueue_many(
            [options[i % len(options)].call() for i in range(base, min(n, base + 1000))])
    worker = Worker(system, url, 100)
    try:
        stamps = await results(system, handles)
        cpu = worker.cpu() - baseline
    finally:
        worker.stop()
    return {"drain_jobs_per_s": n / (max(stamps) - min(stamps)), "worker_cpu_per_1000": cpu * 1000 / n}


async def pickup(system: Any, redis: Redis, url: str, n: int, level: int) -> dict[str, float]:
    from benchmarks.peers.systems.asyncjobs_app import noop

    await flush(system, redis)
    worker = Worker(system, url, 100)
    task = noop.options(priority=level)
    try:
        for _ in range(3):
            await (await task.delay()).result(timeout=30)
        start = []
        for _ in range(n):
            t0 = time.time()
            started = await (await task.delay()).result(timeout=30)
            start.append((started - t0) * 1000)
            await asyncio.sleep(0.005)
    finally:
        worker.stop()
    cuts = percentiles(start)
    return {"pickup_p50_ms": cuts["p50"], "pickup_p99_ms": cuts["p99"]}


async def main_async(args: argparse.Namespace, url: str) -> None:
    os.environ["BENCH_REDIS_URL"] = url  # read by the app module as it is imported
    from benchmarks.peers.systems.asyncjobs_app import System

    system = System()
    redis = Redis(url)
    figures: dict[tuple[str, str], list[float]] = {}
    try:
        for run in range(args.runs):
            cases = list(CASES.items())
            for name, levels in in_turn(cases, run):
                measured = await drain(system, redis, url, args.jobs, levels)
                measured |= await pickup(system, redis, url, args.latency_jobs, max(levels))
                for key, value in measured.items():
                    figures.setdefault((name, key), []).append(value)
                print(f"round {run + 1}, {name}: " + ", ".join(
                    f"{key} {value:.3f}" for key, value in measured.items()), flush=True)
    finally:
        await system.close()
        redis("FLUSHALL")
        redis.close()
    keys = ["drain_jobs_per_s", "worker_cpu_per_1000", "pickup_p50_ms", "pickup_p99_ms"]
    print("\n| case | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for name in CASES:
        cells = []
        for key in keys:
            values = figures[(name, key)]
            cells.append(f"{statistics.median(values):.3g} ({min(values):.3g}-{max(values):.3g})")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--latency-jobs", type=int, default=300)
    on_own_server(main_async, parser.parse_args())


if __name__ == "__main__":
    main()
