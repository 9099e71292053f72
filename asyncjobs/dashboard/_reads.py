"""What the dashboard shows, read from Redis through ``queue.inspect`` and the protocol: no HTTP
here. It imports no user code: queue names come from the registry (``known_queues``), and a
job's arguments and result are decoded as plain msgpack."""

from __future__ import annotations

import asyncio
import pprint
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
import redis.asyncio as aredis

from ..endpoint import async_client, parse
from ..errors import ConfigError
from ..inspector import MinuteCounts, QueueCounts, WorkerInfo, known_queues
from ..job import JobInfo, LogLine
from ..protocol import (
    ANY_DECODER,
    ENVELOPE_DECODER,
    FINAL_STATES,
    OUTCOME_DECODER,
    WAKE,
    DeadLetter,
    Envelope,
    ErrorInfo,
    Field,
    JobState,
    check_job_id,
    check_queue_name,
)
from ..queue import Queue
from ..schedule import ScheduleInfo
from ..shards import stored_shards

SEARCH_DEPTH = 1000
"""How many waiting entries of a queue are read, at most, to find a job's arguments or to
filter a page by task: every read stays bounded."""
SHOWN_CHARS = 20_000
"""A value shown on a page (arguments, a result) is cut after this many characters."""


class NotFound(LookupError):
    """An unknown queue or job: the page answers 404."""


class BadInput(ValueError):
    """A malformed parameter: the page answers 400."""


def show(value: Any) -> str:
    """A decoded msgpack value as readable text, cut when long."""
    text = pprint.pformat(value, width=100, sort_dicts=False)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + f"... ({len(text)} chars)"


def decode_args(envelope: Envelope) -> str:
    try:
        return show(ANY_DECODER.decode(envelope.args))
    except msgspec.DecodeError:
        return "(arguments that are not valid msgpack)"


@dataclass(frozen=True, kw_only=True)
class QueueSummary:
    name: str
    counts: QueueCounts
    history: list[MinuteCounts]

    @property
    def finished_last_hour(self) -> int:
        return sum(m.complete + m.failed + m.cancelled for m in self.history)

    @property
    def failed_last_hour(self) -> int:
        return sum(m.failed for m in self.history)

    @property
    def failure_rate(self) -> float | None:
        """Failed over finished in the last hour, or None when none finished."""
        done = self.finished_last_hour
        return self.failed_last_hour / done if done else None


@dataclass(frozen=True, kw_only=True)
class JobRow:
    """A job of a page of waiting, running or failed jobs, with its arguments when they are at
    hand."""

    info: JobInfo
    args: str | None


@dataclass(frozen=True, kw_only=True)
class JobDetail:
    info: JobInfo
    args: str | None
    """The arguments, while the job waits or runs (or as dead-lettered); None once it finished:
    a finished job keeps its outcome, not its call."""
    result: str | None
    error: ErrorInfo | None
    logs: list[LogLine] = field(default_factory=list)
    """Its log lines (``Context.log``), oldest first."""
    waiting_for: int | None = None
    """While it waits for others (``after=``): how many have yet to complete."""

    @property
    def final(self) -> bool:
        return self.info.status in FINAL_STATES


async def _by_shard(
    queue: Queue, ids: set[str],
    read: Callable[[Queue, set[str]], Awaitable[dict[str, Envelope]]],
) -> dict[str, Envelope]:
    """``read`` of each shard of ``queue`` for the ids in it, merged."""
    found: dict[str, Envelope] = {}
    for shard in queue.shard_queues:
        mine = {job_id for job_id in ids if queue.shard_of(job_id) is shard}
        if mine:
            found.update(await read(shard, mine))
    return found


class Board:
    """The dashboard's view of one Redis server: a ``Queue`` per queue name, made on first use,
    and a client for the registry of queues, made in the event loop that uses it."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._queues: dict[str, Queue] = {}
        self._client: aredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _registry(self) -> aredis.Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = async_client(parse(self.redis_url), socket_timeout=5.0, resend=True,
                                        max_connections=20)
            self._loop = loop
        return self._client

    async def names(self) -> list[str]:
        return await known_queues(self._registry())

    async def queue(self, name: str) -> Queue:
        """The queue named ``name``: ``BadInput`` for a malformed name, ``NotFound`` for one
        the registry does not list."""
        try:
            check_queue_name(name)
        except ConfigError as exc:
            raise BadInput(str(exc)) from None
        if name not in self._queues:
            if name not in await self.names():
                raise NotFound(f"no queue named {name!r}")
            self._queues[name] = Queue(name, self.redis_url,
                                       shards=await stored_shards(self._registry(), name))
        return self._queues[name]

    async def queues(self) -> list[Queue]:
        return [await self.queue(name) for name in await self.names()]

    async def aclose(self) -> None:
        for queue in self._queues.values():
            await queue.aclose()
        self._queues.clear()
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None

    # -- reads -----------------------------------------------------------------------------

    async def summary(self, queue: Queue, minutes: int = 60) -> QueueSummary:
        counts = await queue.inspect.counts()
        history = await queue.inspect.history(minutes)
        return QueueSummary(name=queue.name, counts=counts, history=history)

    async def overview(self) -> list[QueueSummary]:
        return [await self.summary(queue) for queue in await self.queues()]

    async def workers(self) -> dict[str, list[WorkerInfo]]:
        return {queue.name: await queue.inspect.workers() for queue in await self.queues()}

    async def dead_letters(self, limit: int = 50) -> dict[str, list[DeadLetter]]:
        return {queue.name: await queue.inspect.dead_letters(limit) for queue in await self.queues()}

    async def schedules(self) -> dict[str, list[ScheduleInfo]]:
        return {queue.name: await queue.schedules() for queue in await self.queues()}

    async def jobs(self, queue: Queue, state: JobState, *, page: int, per_page: int,
                   task: str | None) -> tuple[list[JobRow], bool]:
        """A page of the jobs in ``state`` and whether there is a next one. With ``task``, the
        page is of that task's jobs among the first ``SEARCH_DEPTH``."""
        if task is None:
            infos = await queue.inspect.jobs(state, offset=page * per_page, limit=per_page + 1)
        else:
            window = await queue.inspect.jobs(state, offset=0, limit=SEARCH_DEPTH)
            infos = [info for info in window if info.task == task][page * per_page:]
        more = len(infos) > per_page
        infos = infos[:per_page]
        ids = {info.id for info in infos}
        envelopes = (await self._failed_calls(queue, ids) if state is JobState.FAILED
                     else await self._envelopes(queue, ids))
        rows = [JobRow(info=info, args=decode_args(envelopes[info.id]) if info.id in envelopes else None)
                for info in infos]
        return rows, more

    async def job(self, queue: Queue, job_id: str) -> JobDetail:
        try:
            check_job_id(job_id)
        except ConfigError as exc:
            raise BadInput(str(exc)) from None
        info = await queue.inspect.job(job_id)
        if info is None:
            raise NotFound(f"queue {queue.name!r} has no job {job_id!r}")
        queue = queue.shard_of(job_id)
        raw = cast("bytes | None", await queue.redis.hget(queue.keys.job(job_id), Field.OUTCOME.value))
        result: str | None = None
        error: ErrorInfo | None = None
        if raw is not None:
            outcome = OUTCOME_DECODER.decode(raw)
            error = outcome.error
            if error is None:
                try:
                    result = show(ANY_DECODER.decode(outcome.value))
                except msgspec.DecodeError:
                    result = "(a result that is not valid msgpack)"
        args: str | None = None
        if info.status not in FINAL_STATES:
            envelope = (await self._envelopes(queue, {job_id})).get(job_id)
            args = decode_args(envelope) if envelope is not None else None
        elif info.status is JobState.FAILED:
            envelope = (await self._failed_calls(queue, {job_id})).get(job_id)
            args = decode_args(envelope) if envelope is not None else None
        elif info.status is JobState.DEAD:
            args = await self._dead_args(queue, job_id)
        waiting_for: int | None = None
        if info.status is JobState.WAITING:
            spec = cast("bytes | None", await queue.redis.hget(queue.keys.after, job_id))
            waiting_for = int(spec.split(b",")[0]) if spec else None
        return JobDetail(info=info, args=args, result=result, error=error,
                         logs=await queue.inspect.job_logs(job_id), waiting_for=waiting_for)

    async def _dead_args(self, queue: Queue, job_id: str) -> str | None:
        for letter in await queue.inspect.dead_letters(SEARCH_DEPTH):
            if letter.job_id == job_id:
                try:
                    return decode_args(ENVELOPE_DECODER.decode(letter.payload))
                except msgspec.DecodeError:
                    return "(a payload that is not a valid job)"
        return None

    async def _failed_calls(self, queue: Queue, ids: set[str]) -> dict[str, Envelope]:
        """The calls that failed jobs keep in their records (``Field.PAYLOAD``), by id."""
        if queue.shards > 1:
            return await _by_shard(queue, ids, self._failed_calls)
        order = sorted(ids)
        async with queue.redis.pipeline(transaction=False) as pipe:
            for job_id in order:
                pipe.hget(queue.keys.job(job_id), Field.PAYLOAD.value)
            payloads = cast("list[bytes | None]", await pipe.execute())
        found: dict[str, Envelope] = {}
        for job_id, payload in zip(order, payloads, strict=True):
            if payload is not None:
                try:
                    found[job_id] = ENVELOPE_DECODER.decode(payload)
                except msgspec.DecodeError:
                    continue
        return found

    async def _envelopes(self, queue: Queue, ids: set[str]) -> dict[str, Envelope]:
        """The envelopes of ``ids`` among the first ``SEARCH_DEPTH`` entries of each list a
        waiting or running job can be in."""
        if not ids:
            return {}
        if queue.shards > 1:
            return await _by_shard(queue, ids, self._envelopes)
        keys = queue.keys
        workers = await queue.inspect.workers()
        async with queue.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(keys.prioritized, 0, SEARCH_DEPTH - 1)
            pipe.lrange(keys.pending, -SEARCH_DEPTH, -1)
            pipe.zrange(keys.scheduled, 0, SEARCH_DEPTH - 1)
            for worker in workers:
                pipe.lrange(keys.processing(worker.id), 0, SEARCH_DEPTH - 1)
            replies = cast("list[list[bytes]]", await pipe.execute())
        found: dict[str, Envelope] = {}
        for entries in replies:
            for entry in entries:
                if entry == WAKE.encode():
                    continue
                try:
                    envelope = ENVELOPE_DECODER.decode(entry)
                except msgspec.DecodeError:
                    continue
                if envelope.id in ids:
                    found[envelope.id] = envelope
        return found
