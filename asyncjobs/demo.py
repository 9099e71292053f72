"""``asyncjobs demo``: a worker and a producer running realistic jobs, with live progress.

Most jobs succeed; a few fail on purpose, are retried, wait in the schedule, or are
dead-lettered, and the summary says what happened to each kind. Uses ``$ASYNCJOBS_REDIS_URL``
when that server answers (else says so), otherwise starts a throwaway server on a free
loopback port and stops it on exit (SIGTERM included).
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
from typing import Any

import anyio
import msgspec
import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .config import redis_url_from_env
from .context import Context
from .endpoint import parse, sync_client
from .errors import JobDeadLettered, JobFailed
from .job import Job
from .queue import Queue
from .redact import redact_url
from .server import RedisServer
from .worker import Worker

DELAY = 0.5
"""Seconds the delayed jobs wait in the schedule."""
TIMEOUT = 0.3
"""The report task's timeout; the reports that fail on purpose take longer."""

OUTCOMES = {
    "ok": ("succeeded", "ran and returned their result"),
    "fail": ("failed on purpose", f"a declined card (ValueError) or a report over its {TIMEOUT} s "
             "timeout (TaskTimeout), as planned"),
    "retry": ("retried, then succeeded", "the first attempt raised ConnectionError, as planned; "
              "run again after a backoff"),
    "delayed": ("delayed, then succeeded", f"enqueued with delay={DELAY} s; waited in the schedule"),
    "dead": ("dead-lettered", "a task this worker does not know (unknown_task), as planned; kept "
             "with its payload in queue.inspect.dead_letters()"),
    "unexpected": ("unexpected", "not the outcome planned (listed above)"),
}


def kind_of(i: int) -> str:
    """The plan of the demo's i-th job: 3 of every 20 fail, retry or wait; one is dead-lettered."""
    return "dead" if i == 4 else {1: "fail", 2: "retry", 3: "delayed"}.get(i % 20, "ok")


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
        return {"to": to, "subject": subject, "message_id": uuid.uuid4().hex[:12]}

    @queue.task(name="images.resize", timeout=2.0)
    def resize_image(path: str, width: int) -> str:
        time.sleep(random.uniform(0.005, 0.03))  # CPU-bound work runs in a worker thread
        return path.replace(".jpg", f"-{width}w.jpg")

    @queue.task(name="reports.build", timeout=TIMEOUT)
    async def build_report(customer_id: int, month: str, seconds: float) -> Report:
        await asyncio.sleep(seconds)
        return Report(customer_id, month, random.randint(1, 400), random.randint(100, 10**7))

    @queue.task(name="payments.charge")
    async def charge(order_id: int, card: str) -> str:
        if card == "declined":
            raise ValueError(f"card declined for order {order_id} (on purpose)")
        return f"charged order {order_id}"

    @queue.task(name="webhooks.deliver", retries=2, retry_backoff=0.1)
    async def deliver(ctx: Context, url: str) -> int:
        if ctx.attempt == 1:
            raise ConnectionError(f"{url} is busy (on purpose, first attempt only)")
        return 200

    return queue


async def _enqueue(queue: Queue, newer: Queue, i: int, kind: str) -> Job[Any]:
    tasks = queue.tasks
    if kind == "fail" and i // 20 % 2 == 0:
        return await tasks["payments.charge"].delay(i, "declined")
    if kind == "fail":
        return await tasks["reports.build"].delay(1000 + i, "2026-11", TIMEOUT + 0.2)
    if kind == "retry":
        return await tasks["webhooks.deliver"].delay(f"https://shop.example/hooks/{i}")
    if kind == "delayed":
        return await tasks["emails.send"].options(delay=DELAY).delay(f"user{i}@example.com", "Reminder")
    if kind == "dead":  # enqueued by a newer release of the producer, before the workers have it
        return await newer.tasks["newsletter.send"].delay(i)
    if i % 3 == 0:
        return await tasks["emails.send"].delay(f"user{i}@example.com", "Your receipt")
    if i % 3 == 1:
        return await tasks["images.resize"].delay(f"/photos/img{i}.jpg", 640)
    return await tasks["reports.build"].delay(1000 + i, "2026-11", random.uniform(0.02, 0.2))


def _newer_producer(queue: Queue) -> Queue:
    newer = Queue(queue.name, queue.settings.redis_url)

    @newer.task(name="newsletter.send")
    async def send_newsletter(issue: int) -> None:
        return None

    return newer


def _outcome(kind: str, error: JobFailed | None) -> str:
    """The summary line a finished job counts in: its kind when it ended as planned."""
    if kind == "dead":
        planned = isinstance(error, JobDeadLettered)
    elif kind == "fail":
        planned = error is not None and not isinstance(error, JobDeadLettered)
    else:
        planned = error is None
    return kind if planned else "unexpected"


async def _produce_and_watch(queue: Queue, jobs: int, concurrency: int, console: Console) -> None:
    worker = Worker(queue, concurrency=concurrency, grace=2.0)
    newer = _newer_producer(queue)
    outcomes: Counter[str] = Counter()
    surprises: list[str] = []
    latencies: list[float] = []
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[tally]}"), TimeElapsedColumn(), console=console,
    )
    bar = progress.add_task("jobs", total=jobs, tally="")

    async def watch(job: Job[Any], kind: str, enqueued: float) -> None:
        error: JobFailed | None = None
        try:
            await job.result(timeout=30)
        except JobFailed as exc:
            error = exc
        outcome = _outcome(kind, error)
        outcomes[outcome] += 1
        if outcome == "unexpected":
            surprises.append(f"{job.task} ({kind}): {error or 'succeeded'}")
        if kind == "ok":
            latencies.append(time.perf_counter() - enqueued)
        progress.update(bar, advance=1, tally=_tally(outcomes))

    started = time.perf_counter()
    with progress:
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            async with anyio.create_task_group() as watchers:
                for i in range(jobs):
                    kind = kind_of(i)
                    job = await _enqueue(queue, newer, i, kind)
                    watchers.start_soon(watch, job, kind, time.perf_counter())
                    if i % 25 == 24:
                        await anyio.sleep(0.05)  # a producer that trickles, like a web app
            worker.stop()
    elapsed = time.perf_counter() - started
    stats = await queue.inspect.stats()
    await queue.inspect.purge_dead_letters()
    await queue.redis.delete(queue.keys.stats)
    await newer.aclose()
    await queue.aclose()
    for line in surprises:
        console.print(f"unexpected: {line}", soft_wrap=True, markup=False)
    _summary(console, jobs, outcomes, latencies, elapsed, stats)


def _tally(outcomes: Counter[str]) -> str:
    done = outcomes["ok"] + outcomes["retry"] + outcomes["delayed"]
    text = f"[green]{done} succeeded[/] [yellow]{outcomes['fail'] + outcomes['dead']} failed on purpose[/]"
    return text + (f" [red]{outcomes['unexpected']} unexpected[/]" if outcomes["unexpected"] else "")


def _summary(
    console: Console, jobs: int, outcomes: Counter[str], latencies: list[float], elapsed: float,
    stats: dict[str, int],
) -> None:
    table = Table(title=f"asyncjobs demo: {jobs} jobs")
    table.add_column("jobs")
    table.add_column("count", justify="right")
    table.add_column("what happened")
    for kind, (label, meaning) in OUTCOMES.items():
        if outcomes[kind] or kind != "unexpected":
            table.add_row(label, str(outcomes[kind]), meaning, style="red" if kind == "unexpected" else "")
    counters = ", ".join(f"{key} {value}" for key, value in sorted(stats.items()))
    table.add_row("queue.inspect.stats()", "", f"the queue's own counters: {counters}")
    table.add_row("throughput", f"{jobs / elapsed:.0f} jobs/s", "all jobs, enqueue to last result")
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else (latencies or [0.0]) * 99
    table.add_row("latency p50", f"{cuts[49] * 1000:.1f} ms", "enqueue to result, succeeded jobs")
    table.add_row("latency p99", f"{cuts[98] * 1000:.1f} ms", "")
    console.print(table)


def _unreachable(url: str) -> str | None:
    """Why the server at ``url`` does not answer PING, or None when it does."""
    try:
        client = sync_client(parse(url), socket_timeout=1.0, max_connections=1)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None


@contextlib.contextmanager
def _redis_for_demo(console: Console) -> Iterator[str]:
    url = redis_url_from_env()
    if url:
        why = _unreachable(url)
        if why is None:
            console.print(f"using Redis at {redact_url(url)}", soft_wrap=True, markup=False)
            yield url
            return
        console.print(f"$ASYNCJOBS_REDIS_URL {redact_url(url)} does not answer ({why}); "
                      "using a throwaway server instead", soft_wrap=True, markup=False)
    server = RedisServer()
    console.print(f"starting a throwaway server on port {server.port}: {server.binary}",
                  soft_wrap=True, markup=False)

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
