"""Run the workloads against one system, inside that system's virtualenv; print the figures as JSON.

    python -m benchmarks.peers.driver SYSTEM REDIS_URL [--jobs 20000] [--workloads w1,...,w7]

Only the standard library and the system under test are imported here, so one file drives every
peer. Each workload starts from an empty database, and each worker is a separate process whose CPU
time (with its children's) is read from /proc.

A system whose producer is another process (BullMQ's, in Node) times the loops of W1 and W3
there, with the same steps: its ``time_sends``, ``time_sends_at_once``, ``time_send_many`` and
``pickups`` stand for the loops below.

W6 and W7 run tasks that do some work, for the systems that have them (``real_work``): W6 one
Redis GET a job (``lookup``, on a client of the task's own), W7 a quarter as many jobs of a
20 KB argument given back as the result (``echo``, which returns ``[stamp, blob]``).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import importlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.peers.resp import Redis

ROOT = Path(__file__).resolve().parents[2]
TICK = os.sysconf("SC_CLK_TCK")
DEADLINE = 300.0
PRODUCERS = 50
"""Concurrent producers in one process (W1 at once)."""
BLOB = "x" * 20_000
"""W7's argument and result."""
LOOKUP_KEY, LOOKUP_VALUE = "bench:value", "v" * 100
"""The key W6's tasks read."""


def percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100)
    return {"p50": cuts[49], "p90": cuts[89], "p99": cuts[98]}


def session_cpu(sid: int) -> float:
    """CPU seconds of every process in session ``sid``, with the children it has reaped."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:
            total += sum(int(f) for f in fields[11:15])
    return total / TICK


def _stop_with_driver() -> None:
    """In the worker: SIGKILL when the driver dies, so an interrupted run leaves no worker behind."""
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Worker:
    """One worker process of the system, in a session of its own so all its children stop with it."""

    def __init__(self, system: Any, url: str, concurrency: int) -> None:
        env = {**os.environ, "BENCH_REDIS_URL": url, "BENCH_CONCURRENCY": str(concurrency),
               "PYTHONPATH": str(ROOT)}
        self.log = open(ROOT / "benchmarks" / "results" / f"worker-{system.name}.log", "ab")
        self.proc = subprocess.Popen(system.worker_argv(concurrency), cwd=ROOT, env=env,
                                     stdout=self.log, stderr=self.log, start_new_session=True,
                                     preexec_fn=_stop_with_driver)

    def cpu(self) -> float:
        return session_cpu(self.proc.pid)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.log.close()


async def flush(system: Any, redis: Redis) -> None:
    """Empty the database, then let the system put back what a deployed queue always has.

    ``SYNC``: Valkey frees a flush in the background by default (``lazyfree-lazy-user-flush``),
    and memory measured after it would still hold the last workload's keys.
    """
    redis("FLUSHALL", "SYNC")
    await system.reset()


async def stored(system: Any, handle: Any) -> None:
    """Wait until ``handle``'s job has a stored result, polling every 20 ms."""
    deadline = time.monotonic() + DEADLINE
    while await system.result(handle) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{system.name}: the last job has no result")
        await asyncio.sleep(0.02)


async def results(system: Any, handles: list[Any]) -> list[Any]:
    """Wait until every job has a stored result; poll only the last one while the worker is busy."""
    await stored(system, handles[-1])
    deadline = time.monotonic() + DEADLINE
    values = []
    for handle in handles:
        while (value := await system.result(handle)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{system.name}: a job has no result")
            await asyncio.sleep(0.02)
        values.append(value)
    return values


async def time_sends(system: Any, n: int) -> float:
    """Seconds to send ``n`` emails one at a time, each awaited before the next."""
    if hasattr(system, "time_sends"):
        return float(await system.time_sends(n))
    began = time.perf_counter()
    for i in range(n):
        await system.send(i)
    return time.perf_counter() - began


async def time_sends_at_once(system: Any, n: int) -> float:
    """Seconds to send ``n`` emails from ``PRODUCERS`` concurrent producers, each sending one at
    a time."""
    if hasattr(system, "time_sends_at_once"):
        return float(await system.time_sends_at_once(n, PRODUCERS))

    async def producer(ids: range) -> None:
        for i in ids:
            await system.send(i)

    began = time.perf_counter()
    await asyncio.gather(*(producer(range(p, n, PRODUCERS)) for p in range(PRODUCERS)))
    return time.perf_counter() - began


async def time_send_many(system: Any, n: int) -> float:
    """Seconds to send ``n`` emails with the bulk API, 1,000 a call."""
    if hasattr(system, "time_send_many"):
        return float(await system.time_send_many(n))
    began = time.perf_counter()
    for base in range(0, n, 1000):
        await system.send_many(range(base, min(n, base + 1000)))
    return time.perf_counter() - began


async def enqueue(system: Any, redis: Redis, n: int) -> dict[str, Any]:
    await flush(system, redis)
    redis_before = redis.cpu_seconds()
    figures: dict[str, Any] = {"enqueue_one_jobs_per_s": n / await time_sends(system, n)}
    figures["enqueue_one_redis_us_per_job"] = (redis.cpu_seconds() - redis_before) * 1e6 / n
    await flush(system, redis)
    redis_before = redis.cpu_seconds()
    figures["enqueue_at_once_jobs_per_s"] = n / await time_sends_at_once(system, n)
    figures["enqueue_at_once_redis_us_per_job"] = (redis.cpu_seconds() - redis_before) * 1e6 / n
    if system.bulk:
        await flush(system, redis)
        figures["enqueue_bulk_jobs_per_s"] = n / await time_send_many(system, n)
    return figures


async def fill(system: Any, task: str, args: list[tuple[Any, ...]]) -> list[Any]:
    handles: list[Any] = []
    for base in range(0, len(args), 1000):
        handles += await system.enqueue(task, args[base:base + 1000])
    return handles


async def startup_cpu(system: Any, redis: Redis, url: str) -> float:
    """CPU a worker spends starting and running one job: subtracted from the drain's figure."""
    await flush(system, redis)
    worker = Worker(system, url, 100)
    try:
        [handle] = await system.enqueue("noop", [()])
        await results(system, [handle])
        return worker.cpu()
    finally:
        worker.stop()


async def drain(
    system: Any, redis: Redis, url: str, n: int, task: str = "noop", args: tuple[Any, ...] = ()
) -> dict[str, Any]:
    """``n`` jobs of ``task(*args)`` drained by one worker at concurrency 100: jobs/s from the
    first job's stamp to the last's, and CPU (net of the worker's start) per 1,000 jobs, until
    the last job's result is stored (the driver's reads of every result after it not counted)."""
    baseline = await startup_cpu(system, redis, url)
    await flush(system, redis)
    redis("SET", LOOKUP_KEY, LOOKUP_VALUE)
    handles = await fill(system, task, [args] * n)
    redis_before = redis.cpu_seconds()
    worker = Worker(system, url, 100)
    try:
        await stored(system, handles[-1])
        worker_cpu = worker.cpu() - baseline
        redis_cpu = redis.cpu_seconds() - redis_before
        values = await results(system, handles)
    finally:
        worker.stop()
    stamps = [value[0] if isinstance(value, (list, tuple)) else value for value in values]
    if task == "echo" and any(value[1] != BLOB for value in values):
        raise RuntimeError(f"{system.name}: an echo job gave back another value")
    return {
        "drain_jobs_per_s": n / (max(stamps) - min(stamps)),
        "worker_cpu_s_per_1000_jobs": worker_cpu * 1000 / n,
        "redis_cpu_s_per_1000_jobs": redis_cpu * 1000 / n,
    }


async def latency(system: Any, redis: Redis, url: str, n: int) -> dict[str, Any]:
    await flush(system, redis)
    worker = Worker(system, url, 100)
    try:
        for _ in range(3):
            [warm] = await system.enqueue("noop", [()])
            await results(system, [warm])
        start, seen = await (system.pickups(n) if hasattr(system, "pickups") else pickups(system, n))
    finally:
        worker.stop()
    return {"pickup_ms": percentiles(start), "end_to_end_ms": percentiles(seen)}


async def pickups(system: Any, n: int) -> tuple[list[float], list[float]]:
    """``n`` times, one no-op job and a wait for its result, 5 ms apart: milliseconds from before
    the enqueue to the job's start (its own stamp), and to its result seen by the caller."""
    start: list[float] = []
    seen: list[float] = []
    for _ in range(n):
        t0 = time.time()
        [handle] = await system.enqueue("noop", [()])
        started = await system.wait(handle)
        seen.append((time.time() - t0) * 1000)
        start.append((started - t0) * 1000)
        await asyncio.sleep(0.005)
    return start, seen


async def concurrency(system: Any, redis: Redis, url: str) -> dict[str, Any]:
    """2,000 jobs of ``sleep(0.05)`` at concurrency 200 (ideal 0.5 s): first start to last end."""
    if not system.concurrent:
        return {}
    await flush(system, redis)
    handles = await fill(system, "nap", [(0.05,)] * 2000)
    worker = Worker(system, url, 200)
    try:
        ends = await results(system, handles)
    finally:
        worker.stop()
    return {"sleep_jobs_wall_s": max(ends) - (min(ends) - 0.05)}


async def memory(system: Any, redis: Redis, n: int) -> dict[str, Any]:
    await flush(system, redis)
    await system.enqueue("send", [("a@example.com", "Welcome", 1)])
    one = redis.stored_bytes()
    await flush(system, redis)
    before = int(redis.info("memory")["used_memory"])
    await fill(system, "send", [("a@example.com", "Welcome", i) for i in range(n)])
    after = int(redis.info("memory")["used_memory"])
    return {"redis_bytes_per_pending_job": (after - before) / n, "stored_bytes_one_job": one}


async def real_work(
    system: Any, redis: Redis, url: str, n: int, task: str, args: tuple[Any, ...]
) -> dict[str, Any]:
    """W6 and W7: a drain of ``task``, its figures named after it."""
    if not getattr(system, "real_work", False):
        return {}
    drained = await drain(system, redis, url, n, task, args)
    return {f"{task}_{key}": value for key, value in drained.items()}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["BENCH_REDIS_URL"] = args.url  # read by the system module as it is imported
    system = importlib.import_module(f"benchmarks.peers.systems.{args.system}_app").System()
    redis = Redis(args.url)
    await system.open(args.url)
    figures: dict[str, Any] = {"system": args.system, "version": system.version, "settings": system.settings}
    try:
        wanted = args.workloads.split(",")
        if "w1" in wanted:
            figures.update(await enqueue(system, redis, args.jobs))
        if "w2" in wanted:
            figures.update(await drain(system, redis, args.url, args.jobs))
        if "w3" in wanted:
            figures.update(await latency(system, redis, args.url, args.latency_jobs))
        if "w4" in wanted:
            figures.update(await concurrency(system, redis, args.url))
        if "w5" in wanted:
            figures.update(await memory(system, redis, args.jobs))
        if "w6" in wanted:
            figures.update(await real_work(system, redis, args.url, args.jobs, "lookup",
                                           (LOOKUP_KEY,)))
        if "w7" in wanted:
            figures.update(await real_work(system, redis, args.url, args.jobs // 4, "echo", (BLOB,)))
    finally:
        await system.close()
        redis("FLUSHALL")
        redis.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("system")
    parser.add_argument("url")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--latency-jobs", type=int, default=500)
    parser.add_argument("--workloads", default="w1,w2,w3,w4,w5,w6,w7")
    args = parser.parse_args()
    if urlsplit(args.url).port in (None, 6379):
        sys.exit("the driver flushes its server: give it the benchmark's own server, not port 6379")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))  # so the workers are stopped too
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
