"""Pickup latency (enqueue to start) with an idle worker over three queues, against one over one.

    python -m benchmarks.multi [--jobs 500] [--runs 3]

Each run starts a worker process on one queue, then one on three (``app:queue app:second
app:third``), one after the other (the order reversed every other run), on one throwaway
server; the three-queue worker gets each job on a queue in turn, the last of the three included.
A worker that polled its queues in turn would show its block timeout here; the figures are the
medians over the runs of each run's percentiles.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from typing import Any

import anyio

from asyncjobs import Queue
from asyncjobs.server import RedisServer
from benchmarks.__main__ import percentiles, start_worker

TARGETS = ("benchmarks.app:queue", "benchmarks.app:second", "benchmarks.app:third")


def bench_queues(url: str) -> list[Queue]:
    from benchmarks import app

    name = f"bench-{uuid.uuid4().hex[:8]}"
    queues = [Queue(name, url), Queue(f"{name}-2", url), Queue(f"{name}-3", url)]
    for queue in queues:
        queue.task(name="noop")(app.noop.fn)
    return queues


async def pickup(url: str, n_queues: int, n: int) -> dict[str, float]:
    queues = bench_queues(url)[:n_queues]
    proc = start_worker(url, queues[0], *TARGETS[1:n_queues], "--concurrency", "100")
    try:
        for queue in queues:  # warm: the worker is up and idle on every queue
            await (await queue.tasks["noop"].delay()).result(timeout=30)
        started: list[float] = []
        for i in range(n):
            job = await queues[(i + 1) % n_queues].tasks["noop"].delay()
            await job.result(timeout=10)
            info = await job.info()
            assert info is not None and info.started_at and info.enqueued_at
            started.append((info.started_at - info.enqueued_at) * 1000)
            await anyio.sleep(0.005)
    finally:
        proc.terminate()
        await anyio.to_thread.run_sync(proc.wait)
        for queue in queues:
            await queue.aclose()
    return percentiles(started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs: dict[int, list[dict[str, float]]] = {1: [], 3: []}
    server = RedisServer().start()
    try:
        for run in range(args.runs):
            order = [1, 3] if run % 2 == 0 else [3, 1]
            for n_queues in order:
                runs[n_queues].append(anyio.run(pickup, server.url, n_queues, args.jobs))
                print(f"run {run + 1}/{args.runs}: {n_queues} queue(s) done", file=sys.stderr,
                      flush=True)
    finally:
        server.cleanup()
    print(f"pickup (enqueue to start), {args.jobs} jobs a run, medians of {args.runs} runs, "
          f"{time.strftime('%Y-%m-%d')}")
    print("| worker on | p50 | p90 | p99 |")
    print("|---|---|---|---|")
    for n_queues, figures in runs.items():
        cells: list[Any] = [statistics.median(f[p] for f in figures) for p in ("p50", "p90", "p99")]
        label = "1 queue" if n_queues == 1 else f"{n_queues} queues"
        print(f"| {label} | " + " | ".join(f"{c:.2f} ms" for c in cells) + " |")


if __name__ == "__main__":
    main()
