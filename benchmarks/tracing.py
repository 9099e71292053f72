"""W2 drain with OpenTelemetry installed but no tracer provider configured, against a worker
that cannot import it (as without the ``otel`` extra), interleaved.

    python -m benchmarks.tracing [--jobs 20000] [--rounds 5]

Each round drains ``--jobs`` no-op jobs with one ``--burst`` worker process, once run by
``python -m benchmarks.no_otel`` and once by ``python -m asyncjobs``; the order alternates
between rounds. Prints the medians and the ratio (installed / not installed), and the median of each round's
ratio (the two drains of a round run back to back, so it is less sensitive to a busy machine).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics

import anyio

from asyncjobs import tracing
from asyncjobs.server import RedisServer
from benchmarks.__main__ import bench_queue, burst

CLI = {False: "benchmarks.no_otel", True: "asyncjobs"}


async def drain(url: str, n: int, installed: bool) -> tuple[float, float]:
    """Jobs/s and worker CPU seconds per 1,000 jobs of one drain."""
    queue = bench_queue(url)
    figures = await burst(url, queue, "noop", [()] * n, concurrency=100, cli=CLI[installed])
    await queue.aclose()
    return n / figures["seconds"], figures["worker_cpu_s_per_1000"]


async def main(args: argparse.Namespace) -> None:
    if importlib.util.find_spec("opentelemetry") is None or tracing.tracer() is not None:
        raise SystemExit("needs opentelemetry-api installed and no tracer provider configured")
    server = RedisServer().start()
    try:
        runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        await drain(server.url, 2000, False)  # warm-up
        for i in range(args.rounds):
            for installed in ((False, True) if i % 2 == 0 else (True, False)):
                runs[installed].append(await drain(server.url, args.jobs, installed))
        for installed, figures in runs.items():
            rates = [rate for rate, _ in figures]
            cpu = statistics.median(c for _, c in figures)
            print(f"opentelemetry {'installed' if installed else 'absent   '}: median "
                  f"{statistics.median(rates):,.0f} jobs/s "
                  f"(runs: {', '.join(f'{r:,.0f}' for r in rates)}), "
                  f"worker CPU {cpu:.3f} s per 1,000 jobs")
        absent = statistics.median(rate for rate, _ in runs[False])
        installed_rate = statistics.median(rate for rate, _ in runs[True])
        paired = statistics.median(a[0] / b[0] for a, b in zip(runs[True], runs[False], strict=True))
        print(f"installed / absent: {installed_rate / absent:.1%} (medians); {paired:.1%} "
              "(median of each round's ratio)")
    finally:
        server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    anyio.run(main, parser.parse_args())
