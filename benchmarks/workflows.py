"""What the event stream and workflows cost: W2 drain with events on and off, 3-step pipelines
beside as many independent jobs, and progress reports per second from one task.

    python -m benchmarks.workflows [--runs 3] [--jobs 20000]

One redis-server on a free loopback port and one worker process (concurrency 100), as in the
peer driver; each round runs every case, the order reversed every other round; the table gives
the medians (min-max). Drain is measured from the first job's start to the last one's end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from typing import Any

from benchmarks.peers.driver import Worker, flush, results
from benchmarks.peers.resp import Redis
from benchmarks.rounds import in_turn, on_own_server


class Quiet:
    """The benchmark app's system, its worker serving the queue without events."""

    def __init__(self, system: Any) -> None:
        self._system = system
        self.name = "asyncjobs-quiet"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._system, name)

    def worker_argv(self, concurrency: int) -> list[str]:
        return [sys.executable, "-m", "asyncjobs", "worker",
                "benchmarks.peers.systems.asyncjobs_app:quiet", "--concurrency", str(concurrency),
                "--log-level", "WARNING"]


async def _enqueue(queue: Any, calls: list[Any]) -> list[Any]:
    handles: list[Any] = []
    for start in range(0, len(calls), 1000):
        handles += await queue.enqueue_many(calls[start:start + 1000])
    return handles


async def drain(system: Any, redis: Redis, url: str, n: int, events: bool) -> dict[str, float]:
    """W2: ``n`` no-op jobs drained by one worker; the rate from the first start to the last
    end, and the Redis CPU the whole run (enqueue and run) cost per 1,000 jobs."""
    from benchmarks.peers.systems import asyncjobs_app as app

    queue = app.queue if events else app.quiet
    await flush(system, redis)
    before = redis.cpu_seconds()
    handles = await _enqueue(queue, [queue.tasks["noop"].call() for _ in range(n)])
    worker = Worker(system if events else Quiet(system), url, 100)
    try:
        stamps = [await h.result(timeout=120) for h in handles]
    finally:
        worker.stop()
    return {"jobs/s": n / (max(stamps) - min(stamps)),
            "Redis CPU s per 1,000": (redis.cpu_seconds() - before) * 1000 / n}


async def steps(system: Any, redis: Redis, url: str, n: int, piped: bool) -> dict[str, float]:
    """Jobs per second through ``n`` jobs: n/3 three-step pipelines, or n independent jobs;
    from the first job's start to the last one's end."""
    from benchmarks.peers.systems.asyncjobs_app import inc, queue, stamp

    await flush(system, redis)
    if piped:
        pipelines = [inc.call(i).then(inc).then(stamp) for i in range(n // 3)]
        handles = [await queue.enqueue(p) for p in pipelines]
    else:
        handles = await _enqueue(queue, [stamp.call(i) for i in range(n)])
    worker = Worker(system, url, 100)
    try:
        ends = await results(system, handles)
    finally:
        worker.stop()
    if not piped:
        return {"jobs/s": n / (max(ends) - min(ends))}
    first = await queue.inspect.job(pipelines[0].calls[0].job_id)  # FIFO: it started first
    return {"jobs/s": n / (max(ends) - first.started_at)}


async def progress(system: Any, redis: Redis, url: str, n: int) -> dict[str, float]:
    from benchmarks.peers.systems.asyncjobs_app import report

    await flush(system, redis)
    worker = Worker(system, url, 100)
    try:
        return {"reports/s": float(await (await report.delay(n)).result(timeout=120))}
    finally:
        worker.stop()


CASES = {
    "W2 drain, events on": lambda s, r, u, n: drain(s, r, u, n, True),
    "W2 drain, events off": lambda s, r, u, n: drain(s, r, u, n, False),
    "independent jobs": lambda s, r, u, n: steps(s, r, u, n, False),
    "3-step pipelines": lambda s, r, u, n: steps(s, r, u, n, True),
    "progress reports in one task": lambda s, r, u, n: progress(s, r, u, n * 10),
}


async def main_async(args: argparse.Namespace, url: str) -> None:
    os.environ["BENCH_REDIS_URL"] = url  # read by the app module as it is imported
    from benchmarks.peers.systems.asyncjobs_app import System

    system = System()
    redis = Redis(url)
    figures: dict[tuple[str, str], list[float]] = {}
    try:
        for run in range(args.runs):
            cases = list(CASES.items())
            for name, case in in_turn(cases, run):
                measured = await case(system, redis, url, args.jobs)
                for key, value in measured.items():
                    figures.setdefault((name, key), []).append(value)
                print(f"round {run + 1}, {name}: " + ", ".join(
                    f"{key} {value:,.3g}" for key, value in measured.items()), flush=True)
    finally:
        await system.close()
        redis("FLUSHALL")
        redis.close()
    print("\n| case | figure | median (min-max) |\n|---|---|---|")
    for (name, key), values in figures.items():
        print(f"| {name} | {key} | {statistics.median(values):,.3g} "
              f"({min(values):,.3g}-{max(values):,.3g}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20_000)
    on_own_server(main_async, parser.parse_args())


if __name__ == "__main__":
    main()
