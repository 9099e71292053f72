"""W2 drain with the worker's Prometheus metrics on and off, interleaved.

    python -m benchmarks.metrics [--jobs 20000] [--rounds 5]

Each round drains ``--jobs`` no-op jobs with one ``--burst`` worker process, once plain and
once with ``--metrics-port``; the order alternates between rounds. Prints the medians and
the ratio (metrics on / off), and the median of each round's ratio (the two drains of a round
run back to back, so it is less sensitive to a busy machine).
"""

from __future__ import annotations

import argparse
import statistics

import anyio

from asyncjobs.server import RedisServer, free_port
from benchmarks.__main__ import bench_queue, burst


async def drain(url: str, n: int, metrics: bool) -> tuple[float, float]:
    """Jobs/s and worker CPU seconds per 1,000 jobs of one drain."""
    queue = bench_queue(url)
    extra = ("--metrics-port", str(free_port())) if metrics else ()
    figures = await burst(url, queue, "noop", [()] * n, concurrency=100, worker_args=extra)
    await queue.aclose()
    return n / figures["seconds"], figures["worker_cpu_s_per_1000"]


async def main(args: argparse.Namespace) -> None:
    server = RedisServer().start()
    try:
        runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        await drain(server.url, 2000, False)  # warm-up
        for i in range(args.rounds):
            for metrics in ((False, True) if i % 2 == 0 else (True, False)):
                runs[metrics].append(await drain(server.url, args.jobs, metrics))
        for metrics, figures in runs.items():
            rates = [rate for rate, _ in figures]
            cpu = statistics.median(c for _, c in figures)
            print(f"metrics {'on ' if metrics else 'off'}: median {statistics.median(rates):,.0f} "
                  f"jobs/s (runs: {', '.join(f'{r:,.0f}' for r in rates)}), "
                  f"worker CPU {cpu:.3f} s per 1,000 jobs")
        off = statistics.median(rate for rate, _ in runs[False])
        on = statistics.median(rate for rate, _ in runs[True])
        paired = statistics.median(a[0] / b[0] for a, b in zip(runs[True], runs[False], strict=True))
        print(f"on / off: {on / off:.1%} (medians); {paired:.1%} (median of each round's ratio)")
    finally:
        server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    anyio.run(main, parser.parse_args())
