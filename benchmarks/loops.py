"""W2 drain with the worker on uvloop's event loop and on asyncio's, interleaved.

    python -m benchmarks.loops [--jobs 20000] [--rounds 5]

Each round drains ``--jobs`` no-op jobs with one ``--burst`` worker process, once with
``--loop asyncio`` and once with ``--loop uvloop`` (the extra ``uvloop``); the order alternates
between rounds. Prints the medians, worker CPU per 1,000 jobs, and the ratio (uvloop / asyncio).
"""

from __future__ import annotations

import argparse
import statistics

from benchmarks.__main__ import bench_queue, burst
from benchmarks.rounds import in_turn, on_own_server

LOOPS = ("asyncio", "uvloop")


async def drain(url: str, n: int, loop: str) -> tuple[float, float]:
    """Jobs/s and worker CPU seconds per 1,000 jobs of one drain."""
    queue = bench_queue(url)
    figures = await burst(url, queue, "noop", [()] * n, concurrency=100,
                          worker_args=("--loop", loop))
    await queue.aclose()
    return n / figures["seconds"], figures["worker_cpu_s_per_1000"]


async def main(args: argparse.Namespace, url: str) -> None:
    runs: dict[str, list[tuple[float, float]]] = {loop: [] for loop in LOOPS}
    await drain(url, min(args.jobs, 2000), "asyncio")  # warm-up
    for number in range(args.rounds):
        for loop in in_turn(LOOPS, number):
            runs[loop].append(await drain(url, args.jobs, loop))
    print("| event loop | drain jobs/s (median) | worker CPU s per 1,000 jobs |")
    print("|---|---|---|")
    for loop, figures in runs.items():
        print(f"| {loop} | {statistics.median(r for r, _ in figures):,.0f} | "
              f"{statistics.median(c for _, c in figures):.3f} |")
    ratio = (statistics.median(r for r, _ in runs["uvloop"])
             / statistics.median(r for r, _ in runs["asyncio"]))
    print(f"uvloop / asyncio: {ratio:.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    on_own_server(main, parser.parse_args())
