"""Measure asyncjobs on a throwaway local server and print the figures.

    python -m benchmarks [--jobs 20000] [--json benchmarks/results/latest.json]

Enqueue rate (one at a time and bulk), drain throughput of no-op jobs with ONE worker process,
pickup and end-to-end latency with an idle worker, and Redis memory per pending job.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import msgspec

from asyncjobs import Queue
from asyncjobs.server import RedisServer
from benchmarks import ceiling

ROOT = Path(__file__).resolve().parent.parent


def percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100)
    return {"p50": cuts[49], "p90": cuts[89], "p99": cuts[98]}


def bench_queue(url: str, shards: int = 1) -> Queue:
    from benchmarks import app

    queue = Queue(f"bench-{uuid.uuid4().hex[:8]}", url, shards=shards)
    for task in app.queue.tasks.values():
        queue.task(name=task.name)(task.fn)
    return queue


def start_worker(url: str, queue: Queue, *args: str, cli: str = "asyncjobs") -> subprocess.Popen[bytes]:
    """A worker process of ``benchmarks.app`` run by ``python -m <cli>``."""
    env = {**os.environ, "ASYNCJOBS_REDIS_URL": url, "ASYNCJOBS_BENCH_QUEUE": queue.name,
           "ASYNCJOBS_BENCH_SHARDS": str(queue.shards)}
    return subprocess.Popen(
        [sys.executable, "-m", cli, "worker", "benchmarks.app:queue", "--log-level",
         "WARNING", *args], cwd=ROOT, env=env,
    )


async def enqueue_rates(url: str, n: int) -> dict[str, float]:
    queue = bench_queue(url)
    send = queue.tasks["send"]
    single = min(n, 5000)
    started = time.perf_counter()
    for i in range(single):
        await send.delay("a@example.com", "Welcome", i)
    one_at_a_time = single / (time.perf_counter() - started)
    started = time.perf_counter()
    for base in range(0, n, 1000):
        await queue.enqueue_many([send.call("a@example.com", "Welcome", i)
                                  for i in range(base, min(n, base + 1000))])
    bulk = n / (time.perf_counter() - started)
    await queue.redis.delete(queue.keys.pending)
    await queue.aclose()
    return {"enqueue_one_jobs_per_s": one_at_a_time, "enqueue_bulk_jobs_per_s": bulk}


async def memory_per_job(url: str, n: int) -> dict[str, float]:
    queue = bench_queue(url)
    send = queue.tasks["send"]
    before = (await queue.redis.info("memory"))["used_memory"]
    for base in range(0, n, 1000):
        await queue.enqueue_many([send.call("a@example.com", "Welcome", i)
                                  for i in range(base, min(n, base + 1000))])
    after = (await queue.redis.info("memory"))["used_memory"]
    payload = len(send.call("a@example.com", "Welcome", 1).payload)
    await queue.aclose()
    return {"redis_bytes_per_pending_job": (after - before) / n, "encoded_job_bytes": payload}


async def redis_cpu(queue: Queue) -> float:
    info = await queue.redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def burst(url: str, queue: Queue, task: str, args: list[tuple[Any, ...]],
                concurrency: int, worker_args: tuple[str, ...] = (),
                cli: str = "asyncjobs",
                cpu: Callable[[], Awaitable[float]] | None = None) -> dict[str, float]:
    """Enqueue the calls, drain them with one ``--burst`` worker process (given
    ``worker_args`` too, run by ``python -m <cli>``); time and CPU (Redis CPU as ``cpu()``
    reads it: by default the one server's)."""
    cpu = cpu or (lambda: redis_cpu(queue))
    t = queue.tasks[task]
    jobs = []
    for base in range(0, len(args), 1000):
        jobs += await queue.enqueue_many([t.call(*a) for a in args[base:base + 1000]])
    redis_before = await cpu()
    proc = start_worker(url, queue, "--burst", "--concurrency", str(concurrency), *worker_args,
                        cli=cli)
    _, status, usage = await anyio.to_thread.run_sync(os.wait4, proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    redis_seconds = await cpu() - redis_before
    async with queue.redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            pipe.hmget(queue.shard_of(job.id).keys.job(job.id), ["st", "f"])
        marks = await pipe.execute()
    first = min(float(st) for st, _ in marks)
    last = max(float(f) for _, f in marks)
    assert (await queue.inspect.stats()).get("complete") == len(jobs)
    per_1000 = 1000 / len(jobs)
    return {
        "seconds": last - first,
        "worker_cpu_s_per_1000": (usage.ru_utime + usage.ru_stime) * per_1000,
        "redis_cpu_s_per_1000": redis_seconds * per_1000,
    }


async def drain(url: str, n: int) -> dict[str, float]:
    queue = bench_queue(url)
    figures = await burst(url, queue, "noop", [()] * n, concurrency=100)
    await queue.aclose()
    return {
        "drain_jobs_per_s": n / figures["seconds"],
        "worker_cpu_s_per_1000_jobs": figures["worker_cpu_s_per_1000"],
        "redis_cpu_s_per_1000_jobs": figures["redis_cpu_s_per_1000"],
    }


async def concurrency(url: str) -> dict[str, float]:
    """2,000 jobs of ``await asyncio.sleep(0.05)`` at concurrency 200: ideal 0.5 s."""
    queue = bench_queue(url)
    figures = await burst(url, queue, "nap", [(0.05,)] * 2000, concurrency=200)
    await queue.aclose()
    return {"sleep_jobs_wall_s": figures["seconds"]}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def rss_flatness(url: str, n: int) -> dict[str, float]:
    """Drain ``n`` no-op jobs with one worker process; its RSS after 25% and at the end."""
    queue = bench_queue(url)
    noop = queue.tasks["noop"]
    for base in range(0, n, 1000):
        await queue.enqueue_many([noop.call() for _ in range(base, min(n, base + 1000))])
    proc = start_worker(url, queue, "--burst", "--concurrency", "100")
    quarter = last = 0.0
    while proc.poll() is None:
        done = (await queue.inspect.stats()).get("complete", 0)
        rss = rss_mb(proc.pid)
        if rss:
            last = rss
            if done >= n // 4 and not quarter:
                quarter = rss
        await anyio.sleep(0.25)  # a sampling period, not a synchronisation
    await queue.aclose()
    return {"rss_jobs": n, "rss_mb_at_25_percent": quarter, "rss_mb_at_end": last}


async def ceilings(url: str, n: int) -> dict[str, float]:
    return {
        "ceiling_plain_jobs_per_s": await ceiling.plain(url, n),
        "ceiling_pipelined_jobs_per_s": await ceiling.pipelined(url, n),
    }


async def latency(url: str, n: int) -> dict[str, Any]:
    queue = bench_queue(url)
    noop = queue.tasks["noop"]
    proc = start_worker(url, queue, "--concurrency", "100")
    try:
        warm = await noop.delay()
        await warm.result(timeout=30)
        pickup: list[float] = []
        end_to_end: list[float] = []
        for _ in range(n):
            t0 = time.time()
            job = await noop.delay()
            await job.result(timeout=10)
            end_to_end.append((time.time() - t0) * 1000)
            info = await job.info()
            assert info is not None and info.started_at and info.enqueued_at
            pickup.append((info.started_at - info.enqueued_at) * 1000)
            await anyio.sleep(0.005)
    finally:
        proc.terminate()
        await anyio.to_thread.run_sync(proc.wait)
        await queue.aclose()
    return {"pickup_ms": percentiles(pickup), "end_to_end_ms": percentiles(end_to_end)}


async def run(args: argparse.Namespace, url: str, server: str) -> dict[str, Any]:
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": platform.python_version(),
        "server": server,
        "jobs": args.jobs,
    }
    results.update(await enqueue_rates(url, args.jobs))
    results.update(await drain(url, args.jobs))
    results.update(await ceilings(url, args.jobs))
    results.update(await concurrency(url))
    results.update(await latency(url, args.latency_jobs))
    results.update(await memory_per_job(url, args.jobs))
    if args.rss_jobs:
        results.update(await rss_flatness(url, args.rss_jobs))
    return results


def report(results: dict[str, Any]) -> str:
    lines = [
        f"asyncjobs benchmark, {results['date']}: {results['machine']}, Python "
        f"{results['python']}, {results['server']}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| enqueue, one `.delay()` at a time | {results['enqueue_one_jobs_per_s']:,.0f} jobs/s |",
        "| enqueue, bulk (`enqueue_many`, 1,000 per call) | "
        f"{results['enqueue_bulk_jobs_per_s']:,.0f} jobs/s |",
        f"| drain {results['jobs']:,} no-op jobs, one worker process | "
        f"{results['drain_jobs_per_s']:,.0f} jobs/s |",
        f"| ceiling: bare BLMOVE + Lua ack loop, 32 consumers / pipelined | "
        f"{results['ceiling_plain_jobs_per_s']:,.0f} / "
        f"{results['ceiling_pipelined_jobs_per_s']:,.0f} jobs/s |",
        f"| drain as a fraction of the plain ceiling | "
        f"{results['drain_jobs_per_s'] / results['ceiling_plain_jobs_per_s']:.0%} |",
        f"| CPU per 1,000 jobs: worker / redis-server | "
        f"{results['worker_cpu_s_per_1000_jobs']:.3f} / {results['redis_cpu_s_per_1000_jobs']:.3f} s |",
        f"| 2,000 jobs of `sleep(0.05)` at concurrency 200 (ideal 0.5 s) | "
        f"{results['sleep_jobs_wall_s']:.2f} s |",
    ]
    for name, key in (("pickup (enqueue to start)", "pickup_ms"),
                      ("end to end (enqueue to result seen)", "end_to_end_ms")):
        p = results[key]
        lines.append(f"| {name} p50 / p90 / p99 | {p['p50']:.2f} / {p['p90']:.2f} / {p['p99']:.2f} ms |")
    lines.append(f"| Redis memory per pending job | {results['redis_bytes_per_pending_job']:.0f} bytes |")
    lines.append(f"| one encoded job (3 arguments) | {results['encoded_job_bytes']} bytes |")
    if "rss_jobs" in results:
        lines.append(
            f"| worker RSS over {results['rss_jobs']:,} jobs: after 25% / at the end | "
            f"{results['rss_mb_at_25_percent']:.1f} / {results['rss_mb_at_end']:.1f} MB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--latency-jobs", type=int, default=500)
    parser.add_argument("--rss-jobs", type=int, default=200_000,
                        help="jobs for the worker-memory check (0 skips it)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    server = RedisServer().start()
    try:
        version = subprocess.run([server.binary, "--version"], capture_output=True, text=True)
        results = anyio.run(run, args, server.url, version.stdout.split(" sha=")[0].strip())
    finally:
        server.cleanup()
    print(report(results))
    if args.json:
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(results)))


if __name__ == "__main__":
    main()
