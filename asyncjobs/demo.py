"""``asyncjobs demo``: a worker and a producer running realistic jobs, with live progress.

Uses ``$ASYNCJOBS_REDIS_URL`` when that server answers, otherwise starts a throwaway server on a
free loopback port and stops it on exit (SIGTERM included).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from types import FrameType
from urllib.parse import urlsplit

import anyio
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .config import redis_url_from_env
from .errors import JobFailed
from .job import Job
from .queue import Queue
from .redact import redact_url
from .server import RedisServer, ping
from .worker import Worker


class Report(msgspec.Struct):
    customer_id: int
    month: str
    orders: int
    revenue_cents: int


def build_demo_queue(url: str) -> Queue:
    queue = Queue(f"demo-{uuid.uuid4().hex[:8]}", url)

    @queue.task(name="emails.send", timeout=2.0)
    async def send_email(to: str, subject: str) -> dict[str, str]:
        await asyncio.sleep(random.uniform(0.01, 0.08))  # talking to the mail server
        if random.random() < 0.05:
            raise ConnectionRefusedError(f"SMTP server refused mail for {to}")
        return {"to": to, "subject": subject, "message_id": uuid.uuid4().hex[:12]}

    @queue.task(name="images.resize", timeout=2.0)
    def resize_image(path: str, width: int) -> str:
        time.sleep(random.uniform(0.005, 0.03))  # CPU-bound work runs in a worker thread
        return path.replace(".jpg", f"-{width}w.jpg")

    @queue.task(name="reports.build", timeout=0.3)
    async def build_report(customer_id: int, month: str) -> Report:
        await asyncio.sleep(random.choice([0.05, 0.1, 0.15, 0.2, 0.5]))  # 0.5 s: times out
        return Report(customer_id, month, random.randint(1, 400), random.randint(100, 10**7))

    return queue


async def _produce_and_watch(queue: Queue, jobs: int, concurrency: int, console: Console) -> None:
    send_email, resize_image, build_report = queue.tasks.values()
    worker = Worker(queue, concurrency=concurrency, grace=2.0)
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
        TimeElapsedColumn(), console=console,
    )
    bar = progress.add_task("jobs", total=jobs, ok=0, failed=0)

    async def watch(job: Job[object], enqueued: float) -> None:
        try:
            await job.result(timeout=30)
            outcomes["ok"] += 1
        except JobFailed as exc:
            outcomes[f"{job.task}: {exc.exc_type}"] += 1
        latencies.append(time.perf_counter() - enqueued)
        failed = sum(n for key, n in outcomes.items() if key != "ok")
        progress.update(bar, advance=1, ok=outcomes["ok"], failed=failed)

    started = time.perf_counter()
    with progress:
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            async with anyio.create_task_group() as watchers:
                for i in range(jobs):
                    kind = i % 3
                    if kind == 0:
                        job: Job[object] = await send_email.delay(
                            f"user{i}@example.com", "Your receipt")
                    elif kind == 1:
                        job = await resize_image.delay(f"/photos/img{i}.jpg", 640)
                    else:
                        job = await build_report.delay(1000 + i, "2026-11")
                    watchers.start_soon(watch, job, time.perf_counter())
                    if i % 25 == 24:
                        await anyio.sleep(0.05)  # a producer that trickles, like a web app
            worker.stop()
    elapsed = time.perf_counter() - started
    await queue.redis.delete(queue.keys.stats)
    await queue.aclose()
    _summary(console, jobs, outcomes, latencies, elapsed)


def _summary(
    console: Console, jobs: int, outcomes: Counter[str], latencies: list[float], elapsed: float
) -> None:
    table = Table(title="asyncjobs demo")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("jobs done", str(outcomes["ok"]))
    for key, n in sorted(outcomes.items()):
        if key != "ok":
            table.add_row(f"failed ({key})", str(n))
    table.add_row("throughput", f"{jobs / elapsed:.0f} jobs/s")
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    table.add_row("latency p50", f"{cuts[49] * 1000:.1f} ms")
    table.add_row("latency p99", f"{cuts[98] * 1000:.1f} ms")
    console.print(table)


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme != "redis" or not parts.hostname:
        return True  # TLS or unix socket: trust it, the run will say if not
    return ping(parts.port or 6379, timeout=0.5) if parts.hostname in (
        "127.0.0.1", "localhost") else True


@contextlib.contextmanager
def _redis_for_demo(console: Console) -> Iterator[str]:
    url = redis_url_from_env()
    if url and _answers(url):
        console.print(f"using Redis at {redact_url(url)}", soft_wrap=True)
        yield url
        return
    server = RedisServer()
    console.print(f"starting a throwaway server on port {server.port}: {server.binary}", soft_wrap=True)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        server.start()
        yield server.url
    finally:
        server.cleanup()
        signal.signal(signal.SIGTERM, previous)


async def _main(queue: Queue, jobs: int, concurrency: int, console: Console) -> bool:
    """Run the demo; returns True when a signal cut it short."""
    interrupted = False
    async with anyio.create_task_group() as tg:

        async def stop_on_signal() -> None:
            nonlocal interrupted
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    interrupted = True
                    tg.cancel_scope.cancel()

        tg.start_soon(stop_on_signal)
        await _produce_and_watch(queue, jobs, concurrency, console)
        tg.cancel_scope.cancel()
    return interrupted


def run_demo(*, jobs: int, concurrency: int) -> None:
    console = Console()
    with _redis_for_demo(console) as url:
        queue = build_demo_queue(url)
        interrupted = anyio.run(_main, queue, jobs, concurrency, console)
    if interrupted:
        console.print("stopped by a signal")
        raise SystemExit(130)
