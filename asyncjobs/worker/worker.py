"""The worker: fetches jobs into its own processing list and runs up to N of them at once."""

from __future__ import annotations

import logging
import math
import os
import re
import signal
import socket
import time
import uuid
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ..connection import UNREACHABLE, Backoff, Connection
from ..queue import Queue
from ..redact import redact_url
from ..scripts import Scripts
from .acker import Acker
from .executor import Executor
from .fetcher import Fetcher
from .lease import Lease
from .preflight import warn_about_durability
from .promoter import Promoter
from .reaper import Reaper
from .scheduler import Scheduler

log: logging.Logger = logging.getLogger(__name__)

MAX_BATCH = 250


def new_worker_id() -> str:
    host = re.sub(r"[^A-Za-z0-9_.\-]", "-", socket.gethostname())[:64] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Worker:
    """Runs a queue's jobs, ``concurrency`` at once, until stopped (or, with ``burst``, until
    the queue is empty and nothing runs; with ``burst_wait`` seconds, it also waits for
    scheduled jobs, such as retries and delayed jobs, due within that time).

    On ``stop()`` (or SIGINT/SIGTERM when ``handle_signals``) it stops fetching at once, lets
    running jobs finish within ``grace`` seconds, then cancels the rest and puts every
    unfinished job back at the head of the queue. ``stop(now=True)`` (or a second signal) skips
    the wait.

    Every worker also recovers the jobs of dead workers (see ``reaper``), moves due scheduled
    jobs to the queue (see ``promoter``), and stops running its jobs when its own heartbeat
    may have expired (self-fencing, see ``lease``), since other workers may then have taken
    them. It never runs two copies of one job at once.
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
        burst_wait: float = 0.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.queue = queue
        self.concurrency = concurrency
        self.burst = burst
        self.burst_wait = burst_wait
        self.grace = grace
        self.handle_signals = handle_signals
        self.id: str = worker_id or new_worker_id()
        self.processing: str = queue.keys.processing(self.id)
        self.state: dict[str, Any] = {}
        self._running = 0
        self._active: set[bytes] = set()  # entries whose task call is under way
        self._turns: dict[bytes, anyio.Event] = {}  # set when an active entry's run ends
        self._left = 0  # jobs known to be left unfinished in our list at shutdown
        self._stopping = False
        self._stop_now = False
        self._job_done: anyio.Event | None = None  # set when a job ends, while someone waits
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
        fetch_scope = self._fetch_scope = anyio.CancelScope()
        grace_scope = self._grace_scope = anyio.CancelScope()
        if self._stopping:
            self.stop(now=self._stop_now)
        async with anyio.create_task_group() as signals:
            if self.handle_signals:  # first of all, so no stop request is ever missed
                await signals.start(self._watch_signals)
            await self._serve(fetch_scope, grace_scope)
            signals.cancel_scope.cancel()

    async def _serve(self, fetch_scope: anyio.CancelScope, grace_scope: anyio.CancelScope) -> None:
        queue = self.queue
        settings = queue.settings
        conn = Connection(settings.redis_url, socket_timeout=settings.socket_timeout)
        scripts = Scripts(conn, queue.keys, settings)
        for hook in queue.startup_hooks:
            await hook(self.state)
        lease = Lease(
            settings, queue.keys, self.id, scripts, self.processing,
            conn.sync_client(socket_timeout=max(1.0, settings.heartbeat_interval)),
        )
        await anyio.to_thread.run_sync(lease.heartbeat.beat)  # registered before the first fetch
        lease.heartbeat.start()
        await warn_about_durability(conn.redis)
        log.info(
            "worker %s: queue %r at %s, concurrency %d, tasks: %s",
            self.id, queue.name, redact_url(settings.redis_url), self.concurrency,
            ", ".join(sorted(queue.tasks)) or "(none)",
        )
        reaper = Reaper(conn.redis, scripts, queue.keys, self.id, settings, lease)
        fetcher = Fetcher(
            conn.client(resend=False), scripts, queue.keys, self.processing, settings.block_timeout
        )
        acker = Acker(scripts, self.processing)
        executor = Executor(
            queue, scripts, acker, lease, processing=self.processing, worker_id=self.id,
            state=self.state, thread_limiter=anyio.CapacityLimiter(self.concurrency),
        )
        try:
            async with anyio.create_task_group() as outer:
                outer.start_soon(reaper.run)
                outer.start_soon(acker.run)
                outer.start_soon(Promoter(scripts).run)
                outer.start_soon(Scheduler(queue, scripts, conn.redis).run)
                outer.start_soon(lease.guard)
                async with anyio.create_task_group() as jobs:
                    with fetch_scope:
                        await self._fetch_loop(fetcher, executor, lease, jobs)
                    with grace_scope, anyio.move_on_after(self.grace):
                        await self._wait_running(0)
                    if self.running:
                        self._left += self.running
                        log.warning("worker %s: cancelling %d unfinished jobs", self.id,
                                    self.running)
                    jobs.cancel_scope.cancel()
                outer.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._shutdown(lease, scripts)
                await conn.aclose()

    async def _fetch_loop(
        self,
        fetcher: Fetcher,
        executor: Executor,
        lease: Lease,
        jobs: TaskGroup,
    ) -> None:
        slots = anyio.Semaphore(self.concurrency)
        backoff = Backoff()
        while not self._stopping:
            if not lease.valid:  # fenced: other workers may be taking our jobs; wait it out
                await anyio.sleep(self.queue.settings.heartbeat_interval / 4)
                continue
            await slots.acquire()
            n = 1
            while n < MAX_BATCH and slots.value > 0:
                slots.acquire_nowait()
                n += 1
            try:
                await lease.reconcile()
                fetched = await fetcher.fetch(n, block=not self.burst)
            except UNREACHABLE as exc:
                for _ in range(n):
                    slots.release()
                log.debug("worker %s: fetch failed: %s", self.id, exc)  # the heartbeat reports
                lease.connection_lost()  # a lost fetch reply leaves a job in our list
                await backoff.wait()
                continue
            backoff.reset()
            for _ in range(n - len(fetched)):
                slots.release()
            if self._stopping:
                self._left += len(fetched)
                return  # whatever was fetched is requeued at shutdown, not run
            for entry, attempt in fetched:
                lease.take(entry)
                jobs.start_soon(self._run_one, executor, lease, entry, attempt, slots)
            if self.burst and not fetched and await self._burst_done(fetcher, lease):
                return

    async def _burst_done(self, fetcher: Fetcher, lease: Lease) -> bool:
        """After an empty fetch: True when a burst worker may exit, else wait for a running job
        to end, or a while when a scheduled job is due within ``burst_wait``."""
        if self.running or lease.held:
            await self._wait_running(self.running - 1)
            return False
        if self.burst_wait <= 0:
            return True
        due = await fetcher.next_due()
        due_in = due - time.time() if due is not None else math.inf
        if due_in > self.burst_wait:
            return True
        await anyio.sleep(min(max(due_in, 0.05), 0.25))  # the promoter moves it within 0.25 s
        return False

    async def _run_one(
        self, executor: Executor, lease: Lease, entry: bytes, attempt: int, slots: anyio.Semaphore
    ) -> None:
        self._running += 1
        try:
            while entry in self._active:  # a copy of this job runs here: never two at once
                turn = self._turns.get(entry)
                if turn is None:
                    turn = self._turns[entry] = anyio.Event()
                await turn.wait()
            self._active.add(entry)
            try:
                await executor.run(entry, attempt)
            finally:
                self._active.discard(entry)
                turn = self._turns.pop(entry, None)
                if turn is not None:
                    turn.set()
        finally:
            self._running -= 1
            lease.release(entry)
            slots.release()
            if self._job_done is not None:  # made only while someone waits: no Event a job
                self._job_done.set()
                self._job_done = None

    async def _wait_running(self, at_most: int) -> None:
        while self.running > at_most:
            if self._job_done is None:
                self._job_done = anyio.Event()
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

    async def _shutdown(self, lease: Lease, scripts: Scripts) -> None:
        try:
            requeued = await scripts.requeue(self.processing)
            if requeued:
                log.info("worker %s: put %d unfinished jobs back on the queue", self.id, requeued)
        except UNREACHABLE as exc:  # nothing is lost: others recover our list once we expire
            if self._left:
                log.warning("worker %s: cannot reach Redis to put back %d unfinished jobs (%s); "
                            "other workers recover them once this worker's heartbeat expires",
                            self.id, self._left, exc)
            else:
                log.info("worker %s: Redis unreachable at shutdown (%s); no unfinished job",
                         self.id, exc)
        await anyio.to_thread.run_sync(lease.heartbeat.stop)
        for hook in self.queue.shutdown_hooks:
            try:
                await hook(self.state)
            except Exception:
                log.exception("worker %s: shutdown hook failed", self.id)
        log.info("worker %s stopped", self.id)
