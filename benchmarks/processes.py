"""Drain a backlog with ``asyncjobs worker --processes 1`` and ``--processes 2``.

    python -m benchmarks.processes [--jobs 20000] [--burn-jobs 5000] [--burn-ms 1.0]

Two workloads, each drained by one worker process and by two under the supervisor, one after
the other on one throwaway server (one round: 1, 2, then 2, 1 for the second workload, so that
neither count always runs first): no-op jobs, where Redis and the worker share the cost, and
jobs that each spend ``--burn-ms`` of CPU in the worker (``benchmarks.app.burn``), where the
worker is the limit. For each: the drain rate (first start to last finish), the CPU of the
worker processes and of redis-server per 1,000 jobs, and how busy each was over the drain: the
worker's CPU seconds per wall second per process (1.00 = one core all the time), Redis's per
wall second, and the rest of the machine's (this benchmark's own process, and whatever else
runs: on a shared machine, a busy rest explains a slow drain). When every worker process is
near 1.00 and Redis far below, the worker processes are the limit, and a second process can
add up to one core's worth of jobs where a core is free.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from asyncjobs.server import RedisServer
from benchmarks.__main__ import bench_queue, redis_cpu, start_worker

TICK = os.sysconf("SC_CLK_TCK")


def machine_cpu() -> float:
    """CPU seconds all cores of this machine have been busy (not idle, not waiting on I/O)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK  # up to steal, less idle, iowait


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its children still running."""
    total = 0.0
    for each in [pid, *(int(c) for c in
                        Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]:
        fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return total


async def every_50ms_until(done: Callable[[], Awaitable[bool]]) -> None:
    """Check ``done()`` every 50 ms (a sampling period, light on Redis) until it holds."""
    while True:
        if await done():
            return
        await anyio.sleep(0.05)


async def drain(url: str, task: str, args: list[tuple[Any, ...]], processes: int) -> dict[str, float]:
    """Enqueue the calls on a paused queue, start the worker processes and wait until all are
    up, then resume and time the drain; CPU is counted from the resume to the last job, so
    start-up is left out."""
    queue = bench_queue(url)
    await queue.pause()
    t = queue.tasks[task]
    jobs = []
    for base in range(0, len(args), 1000):
        jobs += await queue.enqueue_many([t.call(*a) for a in args[base:base + 1000]])
    proc = start_worker(url, queue, "--concurrency", "100", "--processes", str(processes))
    try:
        async def up() -> bool:
            return int(await queue.redis.zcard(queue.keys.workers)) >= processes

        async def drained() -> bool:
            return (await queue.inspect.stats()).get("complete", 0) >= len(jobs)

        await every_50ms_until(up)
        worker_before, redis_before = tree_cpu(proc.pid), await redis_cpu(queue)
        machine_before = machine_cpu()
        await queue.resume()
        await every_50ms_until(drained)
        worker_seconds = tree_cpu(proc.pid) - worker_before
        redis_seconds = await redis_cpu(queue) - redis_before
        other_seconds = machine_cpu() - machine_before - worker_seconds - redis_seconds
    finally:
        proc.send_signal(signal.SIGTERM)
        await anyio.to_thread.run_sync(proc.wait)
    async with queue.redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            pipe.hmget(queue.keys.job(job.id), ["st", "f"])
        marks = await pipe.execute()
    await queue.aclose()
    seconds = max(float(f) for _, f in marks) - min(float(st) for st, _ in marks)
    n = len(jobs)
    return {
        "jobs_per_s": n / seconds,
        "worker_cpu_s_per_1000": worker_seconds * 1000 / n,
        "redis_cpu_s_per_1000": redis_seconds * 1000 / n,
        "worker_busy_per_process": worker_seconds / seconds / processes,
        "redis_busy": redis_seconds / seconds,
        "other_busy": other_seconds / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20_000, help="no-op jobs a drain")
    parser.add_argument("--burn-jobs", type=int, default=5_000, help="CPU-bound jobs a drain")
    parser.add_argument("--burn-ms", type=float, default=1.0, help="CPU per CPU-bound job")
    args = parser.parse_args()
    workloads = [
        (f"{args.jobs:,} no-op jobs", "noop", [()] * args.jobs, (1, 2)),
        (f"{args.burn_jobs:,} jobs of {args.burn_ms:g} ms CPU", "burn",
         [(args.burn_ms,)] * args.burn_jobs, (2, 1)),
    ]
    rows: list[tuple[str, int, dict[str, float]]] = []
    server = RedisServer().start()
    try:
        for name, task, calls, order in workloads:
            for processes in order:
                figures = anyio.run(drain, server.url, task, calls, processes)
                rows.append((name, processes, figures))
                print(f"{name}, --processes {processes}: done", file=sys.stderr, flush=True)
    finally:
        server.cleanup()
    print(f"drain by 1 and 2 worker processes, {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} cores\n")
    print("| workload | --processes | jobs/s | worker CPU s / 1,000 | redis CPU s / 1,000 "
          "| worker busy per process | redis busy | the rest busy |")
    print("|---|---|---|---|---|---|---|---|")
    for name, processes, f in sorted(rows, key=lambda row: (row[0], row[1])):
        print(f"| {name} | {processes} | {f['jobs_per_s']:,.0f} | {f['worker_cpu_s_per_1000']:.3f} "
              f"| {f['redis_cpu_s_per_1000']:.3f} | {f['worker_busy_per_process']:.2f} "
              f"| {f['redis_busy']:.2f} | {f['other_busy']:.2f} |")
    print()
    for name, *_ in workloads:
        one, two = (f["jobs_per_s"] for n, _, f in sorted(rows, key=lambda r: r[1]) if n == name)
        print(f"{name}: --processes 2 drains {two / one:.2f}x as fast as --processes 1")


if __name__ == "__main__":
    main()
