"""The worker: fetches jobs into its own processing list and runs up to N of them at once."""

from __future__ import annotations

import logging
import os
import random
import re
import signal
import socket
import uuid
from typing import Any

import anyio
from anyio.abc import TaskStatus
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..connection import redact_url
from ..queue import Queue
from .executor import Executor
from .fetcher import Fetcher
from .heartbeat import Heartbeat

log = logging.getLogger(__name__)

MAX_BATCH = 100


def new_worker_id() -> str:
    host = re.sub(r"[^A-Za-z0-9_.\-]", "-", socket.gethostname())[:64] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Worker:
    """Runs a queue's jobs, ``concurrency`` at once, until stopped (or, with ``burst``, until
    the queue is empty).

    On ``stop()`` (or SIGINT/SIGTERM when ``handle_signals``) it stops fetching at once, lets
    running jobs finish within ``grace`` seconds, then cancels the rest and puts every
    unfinished job back at the head of the queue. ``stop(now=True)`` (or a second signal) skips
    the wait.
    """

    def __init__(
        self,
        queue: Queue,
        *,
        concurrency: int = 100,
        burst: bool = False,
        grace: float = 25.0,
        handle_signals: bool = False,
        worker_id: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.queue = queue
        self.concurrency = concurrency
        self.burst = burst
        self.grace = grace
        self.handle_signals = handle_signals
        self.id = worker_id or new_worker_id()
        self.processing = queue.keys.processing(self.id)
        self.state: dict[str, Any] = {}
        self._running = 0
        self._stopping = False
        self._stop_now = False
        # made in run(): anyio objects belong to a running event loop
        self._job_done: anyio.Event | None = None
        self._fetch_scope: anyio.CancelScope | None = None
        self._grace_scope: anyio.CancelScope | None = None

    @property
    def running(self) -> int:
        """How many jobs are running now."""
        return self._running

    def stop(self, *, now: bool = False) -> None:
        """Stop fetching; with ``now``, also cancel running jobs without waiting."""
        self._stopping = True
        self._stop_now = self._stop_now or now
        if self._fetch_scope is not None:
            self._fetch_scope.cancel()
        if now and self._grace_scope is not None:
            self._grace_scope.cancel()

    async def run(self) -> None:
        queue = self.queue
        conn = queue.connection()
        self._job_done = anyio.Event()
        self._fetch_scope = anyio.CancelScope()
        self._grace_scope = anyio.CancelScope()
        if self._stopping:
            self.stop(now=self._stop_now)
        settings = queue.settings
        for hook in queue.startup_hooks:
            await hook(self.state)
        heartbeat = Heartbeat(
            settings.redis_url, queue.keys, self.id,
            interval=settings.heartbeat_interval, ttl=settings.heartbeat_ttl,
        )
        heartbeat.start()
        log.info(
            "worker %s: queue %r at %s, concurrency %d, tasks: %s",
            self.id, queue.name, redact_url(settings.redis_url), self.concurrency,
            ", ".join(sorted(queue.tasks)) or "(none)",
        )
        fetcher = Fetcher(
            conn.redis, conn.scripts, queue.keys, self.processing, settings.block_timeout
        )
        executor = Executor(
            queue, conn.scripts, processing=self.processing, worker_id=self.id,
            state=self.state, thread_limiter=anyio.CapacityLimiter(self.concurrency),
        )
        try:
            async with anyio.create_task_group() as outer:
                if self.handle_signals:
                    await outer.start(self._watch_signals)
                async with anyio.create_task_group() as jobs:
                    with self._fetch_scope:
                        await self._fetch_loop(fetcher, executor, jobs)
                    with self._grace_scope:
                        with anyio.move_on_after(self.grace):
                            await self._wait_running(0)
                    if self._running:
                        log.warning("worker %s: cancelling %d unfinished jobs", self.id,
                                    self._running)
                    jobs.cancel_scope.cancel()
                outer.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._shutdown(heartbeat)

    async def _fetch_loop(self, fetcher: Fetcher, executor: Executor, jobs: Any) -> None:
        slots = anyio.Semaphore(self.concurrency)
        delay = 0.05
        while not self._stopping:
            await slots.acquire()
            n = 1
            while n < MAX_BATCH and slots.value > 0:
                slots.acquire_nowait()
                n += 1
            try:
                fetched = await fetcher.fetch(n, block=not self.burst)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                for _ in range(n):
                    slots.release()
                log.warning("worker %s: Redis error while fetching (%s); retrying", self.id, exc)
                await anyio.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.05
            for _ in range(n - len(fetched)):
                slots.release()
            if self._stopping:
                return  # whatever was fetched is requeued at shutdown, not run
            for entry, attempt in fetched:
                self._running += 1
                jobs.start_soon(self._run_one, executor, entry, attempt, slots)
            if self.burst and not fetched:
                if self._running == 0:
                    return
                await self._wait_running(self._running - 1)

    async def _run_one(
        self, executor: Executor, entry: bytes, attempt: int, slots: anyio.Semaphore
    ) -> None:
        try:
            await executor.run(entry, attempt)
        finally:
            self._running -= 1
            slots.release()
            if self._job_done is not None:
                self._job_done.set()
            self._job_done = anyio.Event()

    async def _wait_running(self, at_most: int) -> None:
        while self._running > at_most and self._job_done is not None:
            await self._job_done.wait()

    async def _watch_signals(self, *, task_status: TaskStatus[None]) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                name = signal.Signals(signum).name
                if not self._stopping:
                    log.info("worker %s: %s, stopping (grace %.0f s)", self.id, name, self.grace)
                    self.stop()
                else:
                    log.info("worker %s: second %s, stopping now", self.id, name)
                    self.stop(now=True)

    async def _shutdown(self, heartbeat: Heartbeat) -> None:
        try:
            requeued = await self.queue.connection().scripts.requeue(self.processing)
            if requeued:
                log.info("worker %s: put %d unfinished jobs back on the queue", self.id, requeued)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.error("worker %s: could not requeue unfinished jobs: %s", self.id, exc)
        await anyio.to_thread.run_sync(heartbeat.stop)
        for hook in self.queue.shutdown_hooks:
            try:
                await hook(self.state)
            except Exception:
                log.exception("worker %s: shutdown hook failed", self.id)
        log.info("worker %s stopped", self.id)
