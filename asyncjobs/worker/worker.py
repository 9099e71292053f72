"""The worker: fetches jobs into its own processing list and runs up to N of them at once."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import re
import signal
import socket
import time
import uuid
from collections.abc import Sequence
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ..connection import UNREACHABLE, Backoff, Connection
from ..errors import ConfigError
from ..queue import Queue
from ..redact import redact_url
from ..shards import register
from .lease import Lease
from .observer import JobObserver
from .outage import OutageLog
from .part import QueuePart
from .preflight import warn_about_durability
from .runners import Runners
from .slots import Slots

log: logging.Logger = logging.getLogger(__name__)

MAX_BATCH = 250

Rounds = list[tuple[QueuePart, list[tuple[bytes, int]]]]
"""Fetched jobs by queue: (entry, attempt) pairs."""


def new_worker_id() -> str:
    host = re.sub(r"[^A-Za-z0-9_.\-]", "-", socket.gethostname())[:64] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Worker:
    """Runs the jobs of one queue, or of several, ``concurrency`` at once, until stopped (or,
    with ``burst``, until the queues are empty and nothing runs; with ``burst_wait`` seconds,
    it also waits for scheduled jobs, such as retries and delayed jobs, due within that time).

    Given several queues (all on one Redis server), it takes jobs of the first before any of the
    second, and so on, whenever it fetches; with ``balance``, it spreads its fetches evenly
    between them instead, so that none starves. Each queue keeps its own settings, tasks, hooks
    and processing list; ``concurrency`` must be at least the number of queues, since a worker
    waiting for work keeps one blocking fetch in flight per queue, each in a slot of its own.
    A sharded queue (``Queue(shards=N)``) counts as N queues, one per shard: each fetch round
    starts at the next of them, so none starves.

    On ``stop()`` (or SIGINT/SIGTERM when ``handle_signals``) it stops fetching at once, lets
    running jobs finish within ``grace`` seconds, then cancels the rest and puts every
    unfinished job back at the head of its queue. ``stop(now=True)`` (or a second signal) skips
    the wait.

    Every worker also recovers the jobs of dead workers (see ``reaper``), moves due scheduled
    jobs to the queue (see ``promoter``), and stops running its jobs when its own heartbeat
    may have expired (self-fencing, see ``lease``), since other workers may then have taken
    them. It never runs two copies of one job at once.
    """

    def __init__(
        self,
        queues: Queue | Sequence[Queue],
        *,
        concurrency: int = 100,
        burst: bool = False,
        grace: float = 25.0,
        handle_signals: bool = False,
        worker_id: str | None = None,
        burst_wait: float = 0.0,
        balance: bool = False,
        observer: JobObserver | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.queues: tuple[Queue, ...] = _check_queues(queues, concurrency)
        self.queue: Queue = self.queues[0]
        """The first queue."""
        self._served: tuple[Queue, ...] = tuple(
            shard for queue in self.queues for shard in queue.shard_queues)
        """The queues fetched from: each queue, or each shard of a sharded one."""
        self.concurrency = concurrency
        self.balance: bool = balance or len(self._served) > len(self.queues)
        self._split = balance  # each queue an even share of a round (else: the first, all it has)
        self.burst = burst
        self.burst_wait = burst_wait
        self.grace = grace
        self.handle_signals = handle_signals
        self.id: str = worker_id or new_worker_id()
        self.processing: str = self._served[0].keys.processing(self.id)
        """This worker's processing list in the first queue (its first shard)."""
        self._parts: list[QueuePart] = []
        self._states: dict[int, dict[str, Any]] = {}  # what each queue's startup hooks set up
        self._turn = 0  # with balance: the queue each fetch round starts with, in turn
        self._woken: anyio.Event | None = None  # set when a blocking fetch returns
        self._running = 0
        self._left = 0  # jobs known to be left unfinished in our lists at shutdown
        self._stopping = False
        self._stop_now = False
        self._job_done: anyio.Event | None = None  # set when a job ends, while someone waits
        self._fetch_scope: anyio.CancelScope | None = None
        self._grace_scope: anyio.CancelScope | None = None
        self.observer = observer
        """Told when jobs start and end (``worker.observer.JobObserver``), e.g. for metrics."""

    @property
    def state(self) -> dict[str, Any]:
        """What the first queue's startup hooks set up (each queue has its own)."""
        return self._parts[0].state if self._parts else {}

    @property
    def running(self) -> int:
        """How many jobs are running now, counting those fetched ahead and about to start (their
        records say running: see ``slots.py``)."""
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
        try:
            async with anyio.create_task_group() as signals:
                if self.handle_signals:  # first of all, so no stop request is ever missed
                    await signals.start(self._watch_signals)
                await self._serve(fetch_scope, grace_scope)
                signals.cancel_scope.cancel()
        except ExceptionGroup as group:  # a configuration refused at start: raised as it is
            if len(group.exceptions) == 1 and isinstance(group.exceptions[0], ConfigError):
                raise group.exceptions[0] from None
            raise

    async def _serve(self, fetch_scope: anyio.CancelScope, grace_scope: anyio.CancelScope) -> None:
        first = self.queue.settings
        socket_timeout = max(q.settings.socket_timeout for q in self.queues)
        conn = Connection(first.redis_url, socket_timeout=socket_timeout)
        heartbeat_interval = min(q.settings.heartbeat_interval for q in self.queues)
        try:
            await self._register(conn)
        except BaseException:
            await conn.aclose()
            raise
        if self._stopping:  # stopped while Redis could not be reached: nothing was started
            await conn.aclose()
            return
        lease = Lease(
            [(q.keys, q.settings) for q in self._served], self.id,
            functools.partial(conn.sync_client, socket_timeout=max(1.0, heartbeat_interval)),
        )
        fetch_client = conn.client(resend=False)
        threads = anyio.CapacityLimiter(self.concurrency)
        states = self._states = {id(q): {} for q in self.queues}
        parts = self._parts = [QueuePart(q, conn, fetch_client, lease, self.id, threads, self._wake,
                                         states[id(q.origin)], self.observer)
                               for q in self._served]
        for queue in self.queues:
            for hook in queue.startup_hooks:
                await hook(states[id(queue)])
        await anyio.to_thread.run_sync(lease.heartbeat.beat)  # registered before the first fetch
        lease.heartbeat.start()
        await warn_about_durability(conn.redis)
        loop = "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") \
            else "asyncio"
        for part in parts:
            log.info(
                "worker %s: queue %r at %s, concurrency %d, %s event loop, tasks: %s",
                self.id, part.name, redact_url(first.redis_url), self.concurrency, loop,
                ", ".join(sorted(part.queue.tasks)) or "(none)",
            )
        if len(parts) > 1:
            log.info("worker %s: serving queues %s, %s", self.id,
                     ", ".join(repr(p.name) for p in parts),
                     "balanced" if self.balance else "in this order")
        try:
            async with anyio.create_task_group() as outer:
                for part in parts:
                    part.start_background(outer)
                outer.start_soon(lease.guard)
                async with anyio.create_task_group() as group:
                    jobs = Runners(self.concurrency, group, self._run_one)
                    with fetch_scope:
                        await self._fetch_loop(lease, jobs)
                    with grace_scope, anyio.move_on_after(self.grace):
                        await self._wait_running(0)
                    unfinished = self.running - sum(part.acker.pending for part in parts)
                    if unfinished:
                        self._left += unfinished
                        log.warning("worker %s: cancelling %d unfinished jobs", self.id,
                                    unfinished)
                    group.cancel_scope.cancel()
                # finished jobs whose outcome is on its way are recorded, not put back and rerun
                with anyio.move_on_after(socket_timeout):
                    for part in parts:
                        await part.acker.flushed()
                outer.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._shutdown(lease)
                await conn.aclose()

    async def _register(self, conn: Connection) -> None:
        """Add the queues to the registry and check each is served in the layout its jobs are
        in (``shards.register``; ``ConfigError`` if not); waits while Redis is unreachable."""
        backoff = Backoff()
        outage = OutageLog(self.queue.settings.redis_url, self.id)
        for queue in self.queues:
            while not self._stopping:
                try:
                    await register(conn.redis, queue)
                    outage.ok()
                    break
                except UNREACHABLE as exc:
                    outage.failed(exc)
                    await backoff.wait()

    async def _fetch_loop(self, lease: Lease, jobs: Runners) -> None:
        slots = Slots(self.concurrency)
        backoff = Backoff()
        several = len(self._parts) > 1
        block = not self.burst
        async with anyio.create_task_group() as waits:  # blocking fetches over several queues
            try:
                while not self._stopping:
                    if not lease.valid:  # fenced: other workers may be taking our jobs; wait it out
                        await anyio.sleep(self.queue.settings.heartbeat_interval / 4)
                        continue
                    n = await slots.acquire(MAX_BATCH)
                    rounds, failed = await self._fetch(n, block)
                    got = sum(len(fetched) for _, fetched in rounds)
                    if failed is not None:
                        self._fetch_failed(failed, lease, slots, n - got)
                        n = got
                    if self._stopping:
                        self._left += got
                        return  # whatever was fetched is requeued at shutdown, not run
                    for part, fetched in rounds:
                        for entry, attempt in fetched:
                            part.held.take(entry)
                            self._running += 1
                            jobs.start(part, entry, attempt, slots)
                    if failed is not None:
                        await backoff.wait()
                        continue
                    backoff.reset()
                    if not got and all(part.paused for part in self._parts):
                        slots.release(n)
                        if await self._all_paused(lease):
                            return
                        continue
                    if not got and block and several:  # every queue is empty: wait on all of them
                        await self._await_work(n, slots, lease, jobs, waits)
                        continue
                    slots.release(n - got)
                    if self.burst and not got and await self._burst_done(lease):
                        return
            finally:  # a burst worker done, or stopping: no fetch stays in flight
                waits.cancel_scope.cancel()

    async def _fetch(self, n: int, block: bool) -> tuple[Rounds, Exception | None]:
        """Up to ``n`` jobs, by queue, and the error that stopped the fetch, if any. One queue:
        a batch, else (``block``) one BLMOVE, in one call; several: ``_fetch_round``."""
        if len(self._parts) > 1:
            return await self._fetch_round(n)
        part = self._parts[0]
        try:
            await part.held.reconcile()
            fetched = await part.fetcher.fetch(n, block=block)
        except UNREACHABLE as exc:
            return [], exc
        if fetched is None:
            part.saw_pause()
        return ([(part, fetched)] if fetched else []), None

    async def _all_paused(self, lease: Lease) -> bool:
        """Every queue is paused: True when a burst worker may exit, else wait for a resume
        (or until a paused queue is due to be checked again)."""
        if self.burst and not self.running and not lease.holding:
            return True
        await self._until_woken()
        return False

    def _wake(self) -> None:
        """A queue was resumed: a fetch loop waiting for work fetches again."""
        if self._woken is not None:
            self._woken.set()

    async def _until_woken(self) -> None:
        """Wait for a blocking fetch to return or a queue to be resumed, or until the first
        paused queue is due to be checked again."""
        woken = self._woken = anyio.Event()
        recheck = [part.recheck_in() for part in self._parts if part.paused]
        with anyio.move_on_after(min(recheck, default=math.inf)):
            await woken.wait()

    def _fetch_failed(
        self, exc: Exception, lease: Lease, slots: Slots, unused: int
    ) -> None:
        slots.release(unused)
        log.debug("worker %s: fetch failed: %s", self.id, exc)  # the heartbeat reports
        if self.observer is not None:
            for part in self._parts:
                self.observer.redis_error(part.name, "fetch")
        lease.connection_lost()  # a lost fetch reply leaves a job in our list

    def _in_turn(self, *, advance: bool = True) -> list[QueuePart]:
        """The queues in the order a fetch round visits them (with balance, from the next queue
        each round; ``advance=False``: the last round's order)."""
        parts = self._parts
        if not self.balance:
            return parts
        first = self._turn % len(parts)
        if advance:
            self._turn += 1
        else:
            first = (first - 1) % len(parts)
        return parts[first:] + parts[:first]

    async def _fetch_round(self, n: int) -> tuple[Rounds, Exception | None]:
        """Up to ``n`` jobs from several queues, without blocking: from the first queue as many as
        it has, then from the next; with ``balance``, each queue (from this round's first, in
        turn) gets an even share of what is left. The shards of a sharded queue take turns
        being first, each round (fewer, larger fetches than even shares). What was fetched
        before an error is returned with it."""
        rounds: Rounds = []
        parts = self._in_turn()
        left = n
        try:
            for i, part in enumerate(parts):
                if not left:
                    break
                want = -(-left // (len(parts) - i)) if self._split else left
                if part.paused:
                    continue
                if not part.watching:  # never while a blocking fetch into its list is in flight
                    await part.held.reconcile()
                fetched = await part.fetcher.fetch(want, block=False)
                if fetched is None:
                    part.saw_pause()
                elif fetched:
                    rounds.append((part, fetched))
                    left -= len(fetched)
        except UNREACHABLE as exc:
            return rounds, exc
        return rounds, None

    async def _await_work(
        self, spare: int, slots: Slots, lease: Lease, jobs: Runners, waits: TaskGroup
    ) -> None:
        """Every queue was empty: keep one blocking fetch (``Fetcher.wait``) in flight on each
        queue, each in a slot of its own (``spare`` of them are ours already), until one
        returns. The others stay in flight meanwhile: none is ever cancelled or sent twice, so
        no reply is lost on purpose. Fewer free slots than queues: the rest wait for slots, in
        queue order."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._start_waits, spare, slots, lease, jobs, waits)
            await self._until_woken()
            tg.cancel_scope.cancel()

    async def _start_waits(
        self, spare: int, slots: Slots, lease: Lease, jobs: Runners, waits: TaskGroup
    ) -> None:
        try:
            for part in self._in_turn(advance=False):
                if part.watching or part.paused:
                    continue
                if spare:
                    spare -= 1
                else:
                    await slots.acquire()
                part.watching = True
                waits.start_soon(self._wait_on, part, slots, lease, jobs)
        finally:
            slots.release(spare)

    async def _wait_on(
        self, part: QueuePart, slots: Slots, lease: Lease, jobs: Runners
    ) -> None:
        """One blocking fetch on ``part``'s queue, in a slot of its own: the job it returns runs
        in that slot."""
        try:
            fetched = await part.fetcher.wait()
        except UNREACHABLE as exc:
            self._fetch_failed(exc, lease, slots, 1)
        else:
            if not fetched:
                slots.release()
                if fetched is None:
                    part.saw_pause()
            elif self._stopping:
                self._left += 1  # requeued at shutdown, not run
            else:
                entry, attempt = fetched[0]
                part.held.take(entry)
                self._running += 1
                jobs.start(part, entry, attempt, slots)
        finally:  # before any await: reconcile may touch the list from now on
            part.watching = False
        if self._woken is not None:
            self._woken.set()

    async def _burst_done(self, lease: Lease) -> bool:
        """After an empty fetch: True when a burst worker may exit, else wait for a running job
        to end, or a while when a scheduled job is due within ``burst_wait``."""
        if self.running or lease.holding:
            await self._wait_running(self.running - 1)
            return False
        dues = [due for part in self._parts if (due := await part.fetcher.next_due()) is not None]
        due_in = min(dues) - time.time() if dues else math.inf
        if due_in > self.burst_wait:
            # a promoter may have moved a due job to the queue since the fetch: fetch again
            return not any([await part.fetcher.waiting() for part in self._parts])
        await anyio.sleep(min(max(due_in, 0.05), 0.25))  # the promoter moves it within 0.25 s
        return False

    async def _run_one(
        self, part: QueuePart, entry: bytes, attempt: int, slots: Slots
    ) -> None:
        """Run one fetched job, unless the worker is stopping or has lost its lease by then. Its
        slot is free once its code has ended, so the next job may run while its outcome is
        recorded; it counts as running (and its entry stays held) until that outcome is
        recorded, which may be after this call returns: see ``Executor.run``."""
        active = part.active
        try:
            try:
                while entry in active:  # a copy of this job runs here: never two at once
                    turn = part.turns.get(entry)
                    if turn is None:
                        turn = part.turns[entry] = anyio.Event()
                    await turn.wait()
            except BaseException:
                self._ended(part, entry)
                raise
            if self._stopping:  # fetched (ahead, or at the stop) and not started: put back
                self._left += 1  # at shutdown, with the jobs fetched after the stop
                self._ended(part, entry)
                return
            if not part.lease.valid:  # lost while it waited: others may take it; not started,
                part.lease.must_reconcile()  # it goes back once the lease is ours again
                self._ended(part, entry)
                return
            active.add(entry)
            await part.executor.run(entry, attempt, functools.partial(self._recorded, part, entry))
        finally:
            slots.ended()

    def _recorded(self, part: QueuePart, entry: bytes) -> None:
        """A run's outcome is recorded (or left in our list): the next copy of its entry may run."""
        part.active.discard(entry)
        turn = part.turns.pop(entry, None)
        if turn is not None:
            turn.set()
        self._ended(part, entry)

    def _ended(self, part: QueuePart, entry: bytes) -> None:
        """A job is no longer running here: its entry is no longer held."""
        self._running -= 1
        part.held.release(entry)
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

    async def _shutdown(self, lease: Lease) -> None:
        requeued = 0
        unreachable: Exception | None = None
        for part in self._parts:
            try:
                requeued += await part.scripts.requeue(part.processing)
            except UNREACHABLE as exc:  # nothing is lost: others recover our list once we expire
                unreachable = exc
        if requeued:
            log.info("worker %s: put %d unfinished jobs back on the queue", self.id, requeued)
        if unreachable is not None:
            if self._left:
                log.warning("worker %s: cannot reach Redis to put back %d unfinished jobs (%s); "
                            "other workers recover them once this worker's heartbeat expires",
                            self.id, self._left, unreachable)
            else:
                log.info("worker %s: Redis unreachable at shutdown (%s); no unfinished job",
                         self.id, unreachable)
        await anyio.to_thread.run_sync(lease.heartbeat.stop)
        for queue in self.queues:
            for hook in queue.shutdown_hooks:
                try:
                    await hook(self._states[id(queue)])
                except Exception:
                    log.exception("worker %s: shutdown hook failed", self.id)
        log.info("worker %s stopped", self.id)


def _check_queues(queues: Queue | Sequence[Queue], concurrency: int) -> tuple[Queue, ...]:
    """The queues of one worker: at least one, each once, all on one Redis server, and no more
    than ``concurrency`` (a worker waiting for work holds a slot per queue)."""
    checked = (queues,) if isinstance(queues, Queue) else tuple(queues)
    if not checked:
        raise ConfigError("a worker needs at least one queue")
    for queue in checked:
        if not isinstance(queue, Queue):
            raise ConfigError(f"a worker serves asyncjobs.Queue objects, not {type(queue).__name__}")
    names = [queue.name for queue in checked]
    if len(set(names)) < len(names):
        raise ConfigError(f"a worker serves each queue once; got {', '.join(map(repr, names))}")
    url = checked[0].settings.redis_url
    for queue in checked[1:]:
        if queue.settings.redis_url != url:
            raise ConfigError(
                f"the queues of one worker must be on one Redis server: {checked[0].name!r} is at "
                f"{redact_url(url)}, {queue.name!r} at {redact_url(queue.settings.redis_url)}"
            )
    served = sum(queue.shards for queue in checked)
    if concurrency < served:
        what = "queues and shards" if served > len(checked) else "queues"
        raise ConfigError(
            f"concurrency ({concurrency}) must be at least the number of {what} ({served}): "
            f"a worker waiting for work keeps one blocking fetch per {what[:-1]}, each in a slot"
        )
    return checked
