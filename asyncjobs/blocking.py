"""The blocking producer: enqueue, wait for results and read jobs from plain threads, with no
event loop (``task.delay_sync``, ``queue.enqueue_sync``, ``SyncJob``; for WSGI apps, Django,
scripts).

It sends the same scripts with the same keys and arguments as the asyncio producer
(``scripts.ProducerCalls``) on a blocking client (``connection.SyncConnection``: one pool per
process, shared by every thread, made anew in a forked child). A step that found Redis
unreachable is sent again, after a short jittered wait, until its deadline: every step here is
safe to repeat (enqueue is idempotent by job id, cancel by its state, the rest are reads).

A result is awaited as the asyncio waiter does, on a subscription of its own: subscribe to the
queue's done channel, and once the subscription is confirmed, read the stored outcome; if there
is none, wait for the job's notice (which carries a small outcome, so no read follows).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from redis.client import PubSub
from redis.exceptions import ResponseError

from .config import Settings
from .connection import MESSAGE, SUBSCRIBED, UNREACHABLE, SyncConnection, confirm_commands
from .errors import BlockingCallError, EnqueueError, ResultTimeout, check_replicas
from .inspector import QueueCounts, count_reads, counts_from, worker_reads, workers_from
from .job import JobInfo, outcome_from_reads, queue_outcome_reads
from .protocol import Outcome, QueueKeys, check_job_id, decode_notice_body, split_notice
from .scripts import SyncScripts, enqueued, refusal

if TYPE_CHECKING:
    import redis

    from .task import Batch

T = TypeVar("T")


def refuse_in_event_loop(method: str, instead: str) -> None:
    """Raise ``BlockingCallError`` when called inside a running asyncio event loop, which a
    blocking call would stall."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise BlockingCallError(
        f"{method}() blocks, and was called inside a running event loop, which it would stall: "
        f"use 'await {instead}(...)' there"
    )


class BlockingProducer:
    """A queue's blocking client and scripts, for every thread of a process."""

    def __init__(self, keys: QueueKeys, settings: Settings, *,
                 register: Callable[[redis.Redis], None]) -> None:
        """``register``: adds the queue to the registry of queues (``shards.register_sync``)."""
        self.keys: QueueKeys = keys
        self._register = register
        self.settings: Settings = settings
        self.conn: SyncConnection = SyncConnection(
            settings.redis_url,
            socket_timeout=min(settings.socket_timeout, settings.enqueue_timeout),
            client_name=f"asyncjobs-sync:{keys.name}",
        )
        self.scripts: SyncScripts = SyncScripts(self.conn, keys, settings)
        self._registered_in: int | None = None  # the pid that added the queue to the registry

    def _retrying(self, step: Callable[[], T], timeout: float) -> T:
        """``step()``, sent again while Redis is unreachable, until ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        bound = 0.02
        while True:
            try:
                return step()
            except UNREACHABLE:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                time.sleep(min(left, random.uniform(0, bound)))
                bound = min(bound * 2, 0.5)

    def enqueue(self, batches: Sequence[Batch], enqueued_at: float) -> list[list[bool | str]]:
        """Enqueue batches of calls (``task.enqueue_batches``) in one round trip (a job whose
        id is taken is left as it is); per batch, its replies (``scripts.enqueued``). Raises
        ``EnqueueError`` after ``enqueue_timeout``."""

        def step() -> list[list[bool | str]]:
            if self._registered_in != self.conn.pid:
                self._register(self.conn.redis)
                self._registered_in = self.conn.pid
            if self.settings.enqueue_replicas:
                return self._enqueue_confirmed(batches, enqueued_at)
            return self._enqueue(batches, enqueued_at)

        timeout = self.settings.enqueue_timeout
        try:
            return self._retrying(step, timeout)
        except UNREACHABLE as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise EnqueueError(f"queue {self.keys.name!r}: Redis did not take the job(s) within "
                               f"{timeout} s (enqueue_timeout): {why}") from exc
        except ResponseError as exc:
            raise refusal(exc) from None

    def _enqueue(self, batches: Sequence[Batch], at: float) -> list[list[bool | str]]:
        if len(batches) == 1 or self.conn.cluster:  # no scripts in a cluster pipeline
            return [self.scripts.enqueue([c.payload for c in calls], at, when)
                    for when, calls in batches]
        with self.conn.redis.pipeline(transaction=False) as pipe:
            for when, calls in batches:
                self.scripts.enqueue_in(pipe, [c.payload for c in calls], at, when)
            return [enqueued(reply) for reply in pipe.execute()]

    def _enqueue_confirmed(self, batches: Sequence[Batch], at: float) -> list[list[bool | str]]:
        """``Queue._enqueue_confirmed`` for the blocking client."""
        wanted, wait = self.settings.enqueue_replicas, self.settings.replica_timeout
        if not self.conn.cluster:
            with self.conn.redis.pipeline(transaction=False) as pipe:
                for when, calls in batches:
                    self.scripts.enqueue_in(pipe, [c.payload for c in calls], at, when)
                for command in confirm_commands(self.keys.seq, wanted, wait):
                    pipe.execute_command(*command)  # type: ignore[no-untyped-call]
                *replies, _, confirmed = pipe.execute()
            check_replicas(self.keys.name, wanted, wait, int(confirmed))
            return [enqueued(reply) for reply in replies]
        master = self.conn.master_of(self.keys.seq)
        done = self._enqueue(batches, at)
        check_replicas(self.keys.name, wanted, wait,
                       self.conn.replicated(self.keys.seq, wanted, wait, master))
        return done

    def cancel(self, job_id: str) -> bool:
        return self._retrying(lambda: self.scripts.cancel(job_id), self.settings.socket_timeout)

    def job(self, job_id: str) -> JobInfo | None:
        def step() -> JobInfo | None:
            with self.conn.redis.pipeline(transaction=False) as pipe:
                pipe.hget(self.keys.queued, job_id)  # first: see JobInfo.read
                pipe.hgetall(self.keys.job(job_id))
                entry, record = pipe.execute()
            return JobInfo.read(job_id, entry, record)

        return self._retrying(step, self.settings.socket_timeout)

    def counts(self) -> QueueCounts:
        """The queue's counts, read as ``Inspector.counts`` reads them."""

        def step() -> QueueCounts:
            redis = self.conn.redis
            with redis.pipeline(transaction=False) as pipe:
                count_reads(pipe, self.keys)
                pipe.zrange(self.keys.workers, 0, -1, desc=True, withscores=True)
                *replies, registered = pipe.execute()
            with redis.pipeline(transaction=False) as pipe:
                worker_reads(pipe, self.keys, registered)
                workers = workers_from(registered, pipe.execute())
            return counts_from(replies, workers)

        return self._retrying(step, self.settings.socket_timeout)

    def _stored(self, job_id: str) -> tuple[str, Outcome] | None:
        with self.conn.redis.pipeline(transaction=False) as pipe:
            queue_outcome_reads(pipe, self.keys, job_id)
            return outcome_from_reads(self.keys.name, job_id, pipe.execute())

    def wait(self, job_id: str, timeout: float | None) -> tuple[str, Outcome]:
        """The task name and outcome of a job once it has finished; ``ResultTimeout`` after
        ``timeout`` seconds. Raises ``JobNotFound`` for an unknown job."""
        check_job_id(job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        bound = 0.02
        while True:
            try:
                return self._wait_once(job_id, deadline)
            except UNREACHABLE:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                time.sleep(random.uniform(0, bound))
                bound = min(bound * 2, 1.0)
            except TimeoutError:
                break
        raise ResultTimeout(f"no result for job {job_id} within {timeout} s")

    def _wait_once(self, job_id: str, deadline: float | None) -> tuple[str, Outcome]:
        """One subscription's wait; ``TimeoutError`` at the deadline."""

        def left() -> float:
            if deadline is None:
                return 1.0  # wake now and then, to notice a lost connection
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            return remaining

        pubsub = self.conn.pubsub(self.keys.done)
        try:
            while True:  # until the subscription is confirmed: a notice from then on is seen
                message = pubsub.get_message(timeout=left())
                if message is not None and message["type"] in SUBSCRIBED:
                    break
            return self._outcome(job_id, pubsub, left)
        finally:
            pubsub.close()
            if self.conn.cluster:  # its own client, to the channel's node
                pubsub.connection_pool.disconnect()

    def _outcome(
        self, job_id: str, pubsub: PubSub, left: Callable[[], float]
    ) -> tuple[str, Outcome]:
        """The outcome, read once subscribed, else from the job's notice."""
        found = self._stored(job_id)
        if found is not None:
            return found
        while True:
            message = pubsub.get_message(timeout=left())
            if message is None or message["type"] not in MESSAGE:
                continue
            notice_id, body = split_notice(message["data"])
            if notice_id != job_id:
                continue
            if body:
                return decode_notice_body(body)
            found = self._stored(job_id)
            if found is not None:
                return found

    def close(self) -> None:
        self.conn.close()
