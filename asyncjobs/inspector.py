"""The read and admin side of a queue: counts by state, jobs by state, one job, workers, dead
letters and counters. What an operator (or a CLI, a dashboard) reads; no producer needs it.

Every read is bounded: no KEYS or SCAN, and no list is read further than the page asked for.
"""

from __future__ import annotations

import dataclasses
import heapq
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import msgspec

from .errors import ConfigError
from .job import JobInfo, LogLine
from .protocol import (
    DEAD_LETTER_DECODER,
    ENVELOPE_DECODER,
    LOG_LINES_KEPT,
    MINUTE_TTL,
    REGISTRY,
    WAKE,
    WORKER_CARD_DECODER,
    DeadLetter,
    JobState,
    Stat,
    WorkerCard,
    check_job_id,
    decode_log_line,
    job_shard,
)

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aredis

    from .protocol import QueueKeys
    from .queue import Queue
    from .scripts import Scripts

    AnyPipeline = aredis.client.Pipeline | redis.client.Pipeline


@dataclass(frozen=True, kw_only=True)
class QueueCounts:
    """How many jobs a queue holds in each state now, its live workers, and its counters
    since it was first used (``Stat``)."""

    pending: int
    scheduled: int
    running: int
    dead: int
    workers: int
    waiting: int
    """Jobs waiting for others to complete (``after=``, pipelines, groups)."""
    complete: int
    failed: int
    retried: int
    recovered: int
    duplicate_completions: int
    cancelled: int
    expired: int
    schedule_misfires: int
    schedule_skips: int
    paused: bool
    """Whether the queue is paused (``Queue.pause``)."""


@dataclass(frozen=True, kw_only=True)
class MinuteCounts:
    """The jobs of a queue that finished in one minute, by final state."""

    at: float
    """Unix time the minute began."""
    complete: int
    failed: int
    cancelled: int
    dead: int = 0
    """Jobs dead-lettered (undecodable, of an unknown task, lost with their workers too often)."""

    @property
    def finished(self) -> int:
        return self.complete + self.failed + self.cancelled + self.dead


@dataclass(frozen=True, kw_only=True)
class WorkerInfo:
    """A registered worker: its id, when it last beat (Unix time), whether its heartbeat is
    current (a worker that is not alive has its jobs recovered by the others), and how many
    jobs it holds; while it is alive, its host, process id, start time (Unix time) and the
    queues it serves (None and empty once its heartbeat is gone)."""

    id: str
    last_beat: float
    alive: bool
    running: int
    host: str | None = None
    pid: int | None = None
    started: float | None = None
    queues: tuple[str, ...] = ()


LISTED_STATES = (JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING, JobState.FAILED)
_WAKE_SEARCH = 100
"""How far from its oldest end the pending list is searched for the WAKE marker, which is
there or nowhere (see ``QueueKeys``)."""


def _card(heartbeat: bytes | None) -> WorkerCard | None:
    """A heartbeat's worker card; None for none, or a heartbeat of a version before cards."""
    if heartbeat is None:
        return None
    try:
        return WORKER_CARD_DECODER.decode(heartbeat)
    except (msgspec.DecodeError, ValueError):
        return None


def _pending(listed: int, prioritized: int, wake: int | None) -> int:
    """Jobs waiting: the pending list without its WAKE marker, and the prioritized ones."""
    return int(listed) + int(prioritized) - (wake is not None)


def _count_pending(pipe: AnyPipeline, keys: QueueKeys) -> None:
    """Queue the three reads ``_pending`` adds up."""
    pipe.llen(keys.pending)
    pipe.zcard(keys.prioritized)
    pipe.lpos(keys.pending, WAKE, rank=-1, maxlen=_WAKE_SEARCH)


def count_reads(pipe: AnyPipeline, keys: QueueKeys) -> None:
    """Queue on ``pipe`` (asyncio or blocking) the reads that ``counts_from`` takes the replies
    of; the workers' reads follow in a round trip of their own (``worker_reads``)."""
    _count_pending(pipe, keys)
    pipe.zcard(keys.scheduled)
    pipe.llen(keys.dead)
    pipe.hgetall(keys.stats)
    pipe.exists(keys.paused)
    pipe.hlen(keys.waiting)


def counts_from(replies: list[Any], workers: list[WorkerInfo]) -> QueueCounts:
    """A queue's counts, from the replies of ``count_reads`` and its workers."""
    *queued, scheduled, dead, stats, paused, waiting = replies
    counters = {key.decode(): int(value) for key, value in stats.items()}
    return QueueCounts(
        pending=_pending(*queued), scheduled=int(scheduled), dead=int(dead), waiting=int(waiting),
        running=sum(w.running for w in workers), workers=sum(w.alive for w in workers),
        paused=bool(paused),
        **{stat.name.lower(): counters.get(stat.value, 0) for stat in Stat if stat is not Stat.DEAD},
    )


def sum_counts(shards: list[QueueCounts]) -> QueueCounts:
    """The counts of a sharded queue, from its shards' (each has every worker of the queue)."""
    if len(shards) == 1:
        return shards[0]
    summed = {field.name: sum(getattr(counts, field.name) for counts in shards)
              for field in dataclasses.fields(QueueCounts)}
    return QueueCounts(**{**summed, "workers": max(counts.workers for counts in shards),
                          "paused": any(counts.paused for counts in shards)})


def worker_reads(pipe: AnyPipeline, keys: QueueKeys, registered: list[tuple[bytes, float]]) -> None:
    """Queue on ``pipe`` the reads that ``workers_from`` takes the replies of, for the workers
    of the ``keys.workers`` set (read most recent first, with their scores)."""
    for raw, _ in registered:
        worker = raw.decode()
        pipe.get(keys.heartbeat(worker))
        pipe.llen(keys.processing(worker))


def workers_from(registered: list[tuple[bytes, float]], replies: list[Any]) -> list[WorkerInfo]:
    """The workers of the ``keys.workers`` set, from the replies of ``worker_reads``."""
    infos = []
    for i, (raw, beat) in enumerate(registered):
        heartbeat = cast("bytes | None", replies[2 * i])
        card = _card(heartbeat)
        infos.append(WorkerInfo(
            id=raw.decode(), last_beat=beat, alive=heartbeat is not None,
            running=int(replies[2 * i + 1]), host=card.host if card else None,
            pid=card.pid if card else None, started=card.started if card else None,
            queues=tuple(card.queues) if card else ()))
    return infos


class Inspector:
    """Reads and admin actions on one queue; ``queue.inspect`` gives it. Of a sharded queue,
    it reads every shard: counts and counters summed, job lists shard after shard, dead
    letters newest first over all."""

    def __init__(self, queue: Queue, redis: aredis.Redis | None = None) -> None:
        """``redis``: a client to read with (one client can serve the inspectors of many
        queues); by default the queue's own."""
        self._queue = queue
        self._keys = queue.keys
        self._client = redis
        self._shards: list[Inspector] = (
            [Inspector(shard, redis) for shard in queue.shard_queues] if queue.shards > 1 else [])
        """Of a sharded queue: the inspectors of its shards."""

    def _of(self, job_id: str) -> Inspector:
        """The inspector of the shard of job ``job_id`` (this one when unsharded)."""
        return self._shards[job_shard(job_id, len(self._shards))] if self._shards else self

    @property
    def _redis(self) -> aredis.Redis:
        return self._client if self._client is not None else self._queue.connection().redis

    @property
    def _scripts(self) -> Scripts:
        return self._queue.connection().scripts

    async def job(self, job_id: str) -> JobInfo | None:
        """The record of a job, or None if no such job is known (never enqueued, or its record
        expired)."""
        if self._shards:
            return await self._of(job_id).job(job_id)
        [info] = await self._infos([job_id])
        return info

    async def job_logs(self, job_id: str, limit: int = LOG_LINES_KEPT) -> list[LogLine]:
        """A job's log lines (``Context.log``), the last ``limit``, oldest first: empty when
        it logged nothing or its record expired."""
        if self._shards:
            return await self._of(job_id).job_logs(job_id, limit)
        raw = cast("list[bytes]", await self._redis.lrange(self._keys.logs(job_id), -limit, -1))
        return [LogLine(*decode_log_line(line)) for line in raw]

    async def _infos(self, ids: list[str]) -> list[JobInfo | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                # the queued hash first: a job moves from there to its record (atomically, when
                # it starts), never back, so reading in this order cannot miss a job that exists
                pipe.hget(self._keys.queued, job_id)
                pipe.hgetall(self._keys.job(job_id))
            replies = await pipe.execute()
        infos: list[JobInfo | None] = []
        for i, job_id in enumerate(ids):
            entry, record = cast("tuple[bytes | None, dict[bytes, bytes]]", replies[2 * i:2 * i + 2])
            infos.append(JobInfo.read(job_id, entry, record))
        return infos

    async def stats(self) -> dict[str, int]:
        """The queue's counters (``protocol.Stat``): complete, failed, dead, retried, recovered,
        duplicate_completions, cancelled, expired, schedule_misfires, schedule_skips; a counter
        that never moved is absent."""
        if self._shards:
            totals: dict[str, int] = {}
            for shard in self._shards:
                for name, value in (await shard.stats()).items():
                    totals[name] = totals.get(name, 0) + value
            return totals
        raw = cast("dict[bytes, bytes]", await self._redis.hgetall(self._keys.stats))
        return {key.decode(): int(value) for key, value in raw.items()}

    async def pending_count(self) -> int:
        """Jobs waiting in the queue now (not the scheduled ones)."""
        if self._shards:
            return sum([await shard.pending_count() for shard in self._shards])
        async with self._redis.pipeline(transaction=False) as pipe:
            _count_pending(pipe, self._keys)
            return _pending(*await pipe.execute())

    async def history(self, minutes: int = 60) -> list[MinuteCounts]:
        """The jobs finished in each of the last ``minutes`` minutes (at most 120), oldest
        first, this minute last: one bounded read per minute, in one round trip."""
        if not 1 <= minutes <= MINUTE_TTL // 60:
            raise ConfigError(f"minutes must be from 1 to {MINUTE_TTL // 60}")
        if self._shards:
            shards = [await shard.history(minutes) for shard in self._shards]
            return [MinuteCounts(at=minute[0].at, **{
                name: sum(getattr(counts, name) for counts in minute)
                for name in ("complete", "failed", "cancelled", "dead")})
                for minute in zip(*shards, strict=True)]
        now = int(time.time()) // 60
        span = range(now - minutes + 1, now + 1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for minute in span:
                pipe.hgetall(self._keys.minute(minute))
            counters = cast("list[dict[bytes, bytes]]", await pipe.execute())
        return [
            MinuteCounts(at=minute * 60.0, **{
                state.value: int(counts.get(state.value.encode(), 0))
                for state in (JobState.COMPLETE, JobState.FAILED, JobState.CANCELLED,
                              JobState.DEAD)})
            for minute, counts in zip(span, counters, strict=True)
        ]

    async def workers(self) -> list[WorkerInfo]:
        """Every registered worker, most recent beat first."""
        if self._shards:  # every worker of a sharded queue serves each shard
            first, *others = [await shard.workers() for shard in self._shards]
            running: dict[str, int] = {}
            for workers in others:
                for worker in workers:
                    running[worker.id] = running.get(worker.id, 0) + worker.running
            return [dataclasses.replace(w, running=w.running + running.get(w.id, 0))
                    for w in first]
        keys = self._keys
        registered = cast(
            "list[tuple[bytes, float]]",
            await self._redis.zrange(keys.workers, 0, -1, desc=True, withscores=True),
        )
        async with self._redis.pipeline(transaction=False) as pipe:
            worker_reads(pipe, keys, registered)
            return workers_from(registered, await pipe.execute())

    async def counts(self) -> QueueCounts:
        """How many jobs are in each state, in one round trip plus one per 1,000 workers."""
        if self._shards:
            return sum_counts([await shard.counts() for shard in self._shards])
        async with self._redis.pipeline(transaction=False) as pipe:
            count_reads(pipe, self._keys)
            replies = await pipe.execute()
        return counts_from(replies, await self.workers())

    async def jobs(self, state: JobState, *, offset: int = 0, limit: int = 100) -> list[JobInfo]:
        """A page of the jobs in ``state``: QUEUED (in the order they will run), SCHEDULED (by
        due time) or RUNNING (worker by worker), oldest first; FAILED newest first (the last
        ``protocol.FAILED_KEPT`` failures whose records have not expired). Other finished jobs
        are kept by id only, so they cannot be listed: read them with ``job(id)``, dead
        letters with ``dead_letters()``."""
        if offset < 0 or limit < 1:
            raise ConfigError("offset must be 0 or more and limit 1 or more")
        if self._shards:  # shard after shard
            listed: list[JobInfo] = []
            for shard in self._shards:
                listed += await shard.jobs(state, limit=offset + limit - len(listed))
                if len(listed) >= offset + limit:
                    break
            return listed[offset:offset + limit]
        if state is JobState.FAILED:
            failed = cast("list[bytes]", await self._redis.zrange(
                self._keys.failed, offset, offset + limit - 1, desc=True))
            infos = await self._infos([raw.decode() for raw in failed])
            return [info for info in infos if info is not None and info.status is state]
        if state is JobState.QUEUED:
            entries = await self._queued(offset, limit)
        elif state is JobState.SCHEDULED:
            entries = cast("list[bytes]", await self._redis.zrange(
                self._keys.scheduled, offset, offset + limit - 1))
        elif state is JobState.RUNNING:
            entries = await self._running(offset, limit)
        else:
            raise ConfigError(f"jobs in state {state.value!r} are not listed; listed: "
                              + ", ".join(s.value for s in LISTED_STATES))
        ids = []
        for entry in entries:
            try:
                ids.append(check_job_id(ENVELOPE_DECODER.decode(entry).id))
            except (msgspec.DecodeError, ConfigError):  # poison, until a worker dead-letters it
                continue
        return [info for info in await self._infos(ids) if info is not None and info.status is state]

    async def _queued(self, offset: int, limit: int) -> list[bytes]:
        """Waiting entries in the order they will start: the prioritized ones, then the pending
        list (pushed at the left, taken from the right)."""
        entries = cast("list[bytes]", await self._redis.zrange(
            self._keys.prioritized, offset, offset + limit - 1))
        if len(entries) < limit:
            skip = max(0, offset - int(await self._redis.zcard(self._keys.prioritized)))
            more = limit - len(entries)
            entries += cast("list[bytes]", await self._redis.lrange(
                self._keys.pending, -skip - more, -skip - 1))[::-1]
        return entries

    async def _running(self, offset: int, limit: int) -> list[bytes]:
        entries: list[bytes] = []
        for worker in await self.workers():
            if len(entries) >= offset + limit:
                break
            taken = cast("list[bytes]", await self._redis.lrange(
                self._keys.processing(worker.id), 0, offset + limit - len(entries) - 1))
            entries += taken[::-1]
        return entries[offset:offset + limit]

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead-lettered jobs, newest first."""
        if self._shards:
            letters = [await shard.dead_letters(limit) for shard in self._shards]
            return list(heapq.merge(*letters, key=lambda letter: -letter.at))[:limit]
        raw = cast("list[bytes]", await self._redis.lrange(self._keys.dead, 0, limit - 1))
        return [DEAD_LETTER_DECODER.decode(item) for item in raw]

    async def requeue_dead_letters(self, limit: int | None = None) -> int:
        """Put dead-lettered jobs back on the queue, oldest first (e.g. after deploying the task
        that was unknown); each starts afresh with its attempts reset. Returns how many (of
        a sharded queue: shard after shard, ``limit`` in all)."""
        if self._shards:
            revived = 0
            for shard in self._shards:
                if limit is not None and revived >= limit:
                    break
                revived += await shard.requeue_dead_letters(
                    None if limit is None else limit - revived)
            return revived
        raw = cast("list[bytes]", await self._redis.lrange(
            self._keys.dead, -limit if limit is not None else 0, -1))
        oldest_first = raw[::-1]
        revived = 0
        for item in oldest_first:
            letter = DEAD_LETTER_DECODER.decode(item)
            revived += await self._scripts.revive(item, letter.payload, letter.job_id)
        return revived

    async def purge_dead_letters(self) -> int:
        """Delete every dead letter; returns how many there were."""
        if self._shards:
            return sum([await shard.purge_dead_letters() for shard in self._shards])
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.llen(self._keys.dead)
            pipe.delete(self._keys.dead)
            count, _ = await pipe.execute()
        return int(count)


async def known_queues(redis: aredis.Redis) -> list[str]:
    """The names of every queue used on this server (by a worker, or to enqueue), sorted."""
    names = cast("set[bytes]", await redis.smembers(REGISTRY))
    return sorted(name.decode() for name in names)
