"""Flow control, measured: the rate limiter's accuracy, and what a concurrency limit costs a job.

    python -m benchmarks.flow [--seconds 30] [--rates 20,50,500,5000] [--jobs 20000]

One redis-server on a free loopback port and one worker process (concurrency 100), as in the
peer driver. For each rate, a backlog of jobs of a task limited to it runs for ``--seconds``:
the table gives the starts per second over the run (as the limiter let them start: the jobs'
recorded start times) and the most starts in any one-second window. Then a drain of ``--jobs``
no-op jobs of a task with ``key_concurrency=1`` over 1,000 keys, beside the same drain of a
task with no limit, interleaved: jobs/s and worker CPU per 1,000 jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

from benchmarks.peers.driver import Worker, flush, results, startup_cpu
from benchmarks.peers.resp import Redis
from benchmarks.rounds import in_turn, on_own_server

APP = "benchmarks.flow_app"


class System:
    """The peer driver's view of the app below: a worker command and result polling."""

    name = "asyncjobs-flow"

    def __init__(self) -> None:
        from benchmarks import flow_app

        self.app = flow_app

    async def reset(self) -> None:
        pass

    async def enqueue(self, task: str, args: list[tuple[Any, ...]]) -> list[Any]:
        t = self.app.queue.tasks[task]
        return await self.app.queue.enqueue_many([t.call(*a) for a in args])

    async def result(self, job: Any) -> Any:
        info = await job.info()
        if info is None or info.status.value != "complete":
            return None
        return await job.result()

    def worker_argv(self, concurrency: int) -> list[str]:
        return [sys.executable, "-m", "asyncjobs", "worker", f"{APP}:queue",
                "--concurrency", str(concurrency), "--log-level", "WARNING"]


def most_in_a_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    most = first = 0
    for last, t in enumerate(times):
        while t - times[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


async def rate_accuracy(
    system: System, redis: Redis, url: str, rate: int, seconds: float
) -> dict[str, float]:
    await flush(system, redis)
    queue = system.app.queue
    task = system.app.rated(rate)
    jobs = []
    for _ in range(int(rate * seconds * 1.2) // 1000 + 1):  # more than the run can start
        jobs += await queue.enqueue_many([task.call() for _ in range(1000)])
    worker = Worker(system, url, 100)
    began = time.time()
    try:
        await asyncio.sleep(seconds + 1)
    finally:
        worker.stop()
    async with queue.redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            pipe.hget(queue.keys.job(job.id), "st")
        stamps = [float(s) for s in await pipe.execute() if s is not None]
    first = min(stamps)
    window = [t for t in stamps if first <= t < first + seconds]
    return {"starts_per_s": len(window) / seconds, "most_in_1s": most_in_a_window(stamps, 1.0),
            "late_start_s": first - began}


async def drain(system: System, redis: Redis, url: str, n: int, task: str) -> dict[str, float]:
    baseline = await startup_cpu(system, redis, url)
    await flush(system, redis)
    queue = system.app.queue
    t = queue.tasks[task]
    calls = ([t.options(concurrency_key=f"k-{i % 1000}").call() for i in range(n)]
             if task == "keyed" else [t.call() for _ in range(n)])
    handles = []
    for base in range(0, n, 1000):
        handles += await queue.enqueue_many(calls[base:base + 1000])
    worker = Worker(system, url, 100)
    try:
        stamps = await results(system, handles)
        cpu = worker.cpu() - baseline
    finally:
        worker.stop()
    return {"drain_jobs_per_s": n / (max(stamps) - min(stamps)), "worker_cpu_per_1000": cpu * 1000 / n}


async def main_async(args: argparse.Namespace, url: str) -> None:
    os.environ["BENCH_REDIS_URL"] = url  # read by the app module as it is imported
    system = System()
    redis = Redis(url)
    try:
        print("| rate | starts/s over the run | most in any 1 s |\n|---|---|---|")
        for rate in (int(r) for r in args.rates.split(",")):
            figures = await rate_accuracy(system, redis, url, rate, args.seconds)
            print(f"| {rate}/s | {figures['starts_per_s']:.1f} | {figures['most_in_1s']} |",
                  flush=True)
        drains: dict[str, list[dict[str, float]]] = {"noop": [], "keyed": []}
        for run in range(args.runs):
            for task in in_turn(("noop", "keyed"), run):
                drains[task].append(await drain(system, redis, url, args.jobs, task))
        print("\n| task | drain jobs/s | worker CPU s per 1,000 |\n|---|---|---|")
        for task, runs in drains.items():
            jobs_per_s = statistics.median(r["drain_jobs_per_s"] for r in runs)
            cpu = statistics.median(r["worker_cpu_per_1000"] for r in runs)
            label = "no limit" if task == "noop" else "key_concurrency=1, 1,000 keys"
            print(f"| {label} | {jobs_per_s:,.0f} | {cpu:.3f} |")
    finally:
        await system.app.queue.aclose()
        redis("FLUSHALL")
        redis.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rates", default="20,50,500,5000")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    on_own_server(main_async, parser.parse_args())


if __name__ == "__main__":
    main()
