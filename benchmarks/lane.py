"""Does the enqueue lane pay? ``.delay()`` with and without it, interleaved, on one server.

    python -m benchmarks.lane [--rounds 5] [--jobs 6000]

For one producer and for 50 concurrent producers (one event loop), each round enqueues
``--jobs`` jobs with the lane and without it (the order alternates between rounds), and prints
the medians: jobs per second and client CPU per job. "Without" marks the lane busy for the whole
run, so every call takes the pool, as a call does that finds the lane busy.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from asyncjobs import Queue
from asyncjobs.server import RedisServer


async def run(url: str, *, lane: bool, producers: int, jobs: int) -> tuple[float, float]:
    """Jobs per second and client CPU µs per job of ``jobs`` enqueues by ``producers``."""
    queue = Queue(f"lane-{uuid.uuid4().hex[:8]}", url)

    @queue.task
    async def noop(n: int) -> None:
        return None

    scripts = queue.connection().scripts
    await noop.delay(0)  # connect and load the script before timing
    if not lane:
        scripts._enqueue_lane.busy = True  # every call takes the pool
    each = jobs // producers

    async def produce() -> None:
        for n in range(each):
            await noop.delay(n)

    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(produce() for _ in range(producers)))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    await queue.redis.delete(queue.keys.pending, queue.keys.queued)
    await queue.aclose()
    return each * producers / wall, cpu / (each * producers) * 1e6


async def main(rounds: int, jobs: int) -> None:
    server = RedisServer().start()
    results: dict[tuple[int, bool], list[tuple[float, float]]] = {}
    try:
        for number in range(rounds):
            for producers in (1, 50):
                for lane in (True, False) if number % 2 == 0 else (False, True):
                    figures = await run(server.url, lane=lane, producers=producers, jobs=jobs)
                    results.setdefault((producers, lane), []).append(figures)
    finally:
        server.cleanup()
    print("| producers | lane | jobs/s | client CPU µs per job |")
    print("|---|---|---|---|")
    for (producers, lane), figures in sorted(results.items()):
        rate = statistics.median(r for r, _ in figures)
        cpu = statistics.median(c for _, c in figures)
        print(f"| {producers} | {'on' if lane else 'off'} | {rate:,.0f} | {cpu:.0f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=6000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.jobs))
