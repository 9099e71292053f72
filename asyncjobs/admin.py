"""What the operator's commands (``asyncjobs info``, ``jobs``, ``job``, ``workers``, ``dead``,
``cancel``, ``retry``, ``pause``, ``resume``) read and do, as plain data: dataclasses whose
fields are numbers, strings, lists and dicts, so that ``msgspec.json.encode`` gives the
documented ``--json`` schema.

No task code is imported: queues are known by name from the registry (``known_queues``), and a
job's arguments and result are decoded from msgpack into plain values (bytes as base64).
Every read is bounded, as in ``Inspector``.
"""

from __future__ import annotations

import base64
import datetime
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

import msgspec
import redis.asyncio as aredis

from .config import Settings
from .endpoint import async_client, parse
from .errors import AsyncJobsError, ConfigError
from .inspector import Inspector, MinuteCounts, known_queues
from .job import JobInfo, LogLine
from .protocol import (
    ANY_DECODER,
    DEAD_LETTER_DECODER,
    ENVELOPE_DECODER,
    OUTCOME_DECODER,
    REGISTRY,
    DeadLetter,
    Field,
    JobState,
    check_job_id,
    check_queue_name,
)
from .queue import Queue
from .redact import redact_url
from .shards import stored_shards

DEAD_PAGE = 500
"""Dead letters read per round trip when one is looked for by job id."""
RUNNING_SEARCH = 1000
"""Entries of each worker's processing list read when looking for a running job's call."""
TASK_FILTER_SCAN = 10
"""``jobs --task``: at most this many times ``limit`` jobs are read to find ``limit`` matches."""
LISTED = ("queued", "scheduled", "running", "failed", "dead")
"""The states ``jobs`` lists."""


class NotFound(AsyncJobsError, LookupError):
    """No queue, job or dead letter by that name or id."""


class NotAllowed(AsyncJobsError):
    """The job is not in a state that allows the action (cancel a finished job, retry a
    complete one)."""


async def dead_letter_of(queue: Queue, job_id: str) -> tuple[bytes, DeadLetter] | None:
    """The newest dead letter of ``job_id`` (its exact bytes, decoded), read a page at a time
    through the capped list."""
    for start in range(0, queue.settings.max_dead_letters, DEAD_PAGE):
        raw = cast("list[bytes]", await queue.redis.lrange(
            queue.keys.dead, start, start + DEAD_PAGE - 1))
        for item in raw:
            letter = DEAD_LETTER_DECODER.decode(item)
            if letter.job_id == job_id:
                return item, letter
        if len(raw) < DEAD_PAGE:
            break
    return None


async def retry_job(queue: Queue, job_id: str) -> None:
    """Enqueue a failed job (``rerun.lua``) or a dead-lettered one (``revive.lua``) again with
    its original call; its attempts start from 0 (what ``asyncjobs retry`` and the dashboard's
    retry do). Raises ``NotFound`` for an unknown job, ``NotAllowed`` for one in another
    state (or retried by someone else just before), ``ConfigError`` for a malformed id."""
    check_job_id(job_id)
    info = await queue.inspect.job(job_id)
    queue = queue.shard_of(job_id)
    if info is not None and info.status is JobState.FAILED:
        if not await queue.connection().scripts.rerun(job_id):
            raise NotAllowed(f"job {job_id!r} is no longer failed; not retried")
    elif info is None or info.status is JobState.DEAD:
        letter = await dead_letter_of(queue, job_id)
        if letter is None:
            if info is None:
                raise NotFound(f"queue {queue.name!r} has no job {job_id!r} (never enqueued, "
                               "or expired) and no dead letter of it")
            raise NotAllowed(f"job {job_id!r} is dead but its dead letter is gone; not retried")
        if not await queue.connection().scripts.revive(letter[0], letter[1].payload, job_id):
            raise NotAllowed(f"the dead letter of job {job_id!r} was just taken; not retried")
    else:
        raise NotAllowed(f"job {job_id!r} is {info.status.value}: only failed and dead jobs "
                         "are retried")


@dataclass(frozen=True, kw_only=True)
class QueueSummary:
    """One line of ``asyncjobs info``."""

    name: str
    pending: int
    scheduled: int
    running: int
    waiting: int
    """Jobs waiting for others to complete (``after=``)."""
    complete: int
    failed: int
    dead: int
    cancelled: int
    expired: int
    retried: int
    workers: int
    paused: bool
    jobs_per_second: float
    """Jobs finished (complete, failed, cancelled, dead) per second over the last minute."""


@dataclass(frozen=True, kw_only=True)
class JobSummary:
    """One line of ``asyncjobs jobs``; times are Unix timestamps."""

    id: str
    task: str
    status: str
    attempts: int
    priority: int
    enqueued_at: float | None
    started_at: float | None
    finished_at: float | None
    error: str | None


@dataclass(frozen=True, kw_only=True)
class ErrorDetail:
    kind: str
    type: str
    message: str
    traceback: str


@dataclass(frozen=True, kw_only=True)
class JobDetail(JobSummary):
    """``asyncjobs job``: the record, the call's arguments (in parameter order; None when the
    call is not kept: it is kept for running, failed and dead jobs), and the result or the
    error."""

    queue: str
    args: list[Any] | None
    result: Any
    failure: ErrorDetail | None
    expires_at: float | None
    progress: float | None = None
    """The last progress its task reported (``Context.progress``), 0.0..1.0."""
    progress_message: str | None = None
    logs: list[LogLine] = field(default_factory=list)
    """Its log lines (``Context.log``), oldest first."""


@dataclass(frozen=True, kw_only=True)
class WorkerRow:
    queue: str
    id: str
    alive: bool
    running: int
    last_beat: float
    """Unix time of its last heartbeat."""
    host: str | None
    pid: int | None
    started: float | None
    """Unix time it started; host, pid and started are None once its heartbeat is gone."""
    queues: list[str]
    """Every queue it serves."""


@dataclass(frozen=True, kw_only=True)
class DeadRow:
    job_id: str | None
    task: str | None
    reason: str
    message: str
    worker_id: str
    at: float


def plain(value: Any) -> Any:
    """A decoded msgpack value as JSON-able data: bytes as ``{"base64": ...}``, timestamps as
    ISO 8601 text, other extension types as ``{"ext": code, "base64": ...}``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {k if isinstance(k, str) else repr(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, msgspec.msgpack.Ext):
        return {"ext": value.code, "base64": base64.b64encode(value.data).decode()}
    return value


def _decode_plain(raw: bytes) -> Any:
    try:
        return plain(ANY_DECODER.decode(raw))
    except msgspec.DecodeError:
        return {"base64": base64.b64encode(raw).decode()}


def _summary(info: JobInfo) -> JobSummary:
    return JobSummary(id=info.id, task=info.task, status=info.status.value, attempts=info.attempts,
                      priority=info.priority, enqueued_at=info.enqueued_at,
                      started_at=info.started_at, finished_at=info.finished_at, error=info.error)


def _dead_row(letter: DeadLetter) -> DeadRow:
    task: str | None = None
    try:
        task = ENVELOPE_DECODER.decode(letter.payload).task
    except (msgspec.DecodeError, RecursionError):
        pass
    return DeadRow(job_id=letter.job_id, task=task, reason=letter.reason, message=letter.message,
                   worker_id=letter.worker_id, at=letter.at)


def per_second(history: list[MinuteCounts], now: float) -> float:
    """Jobs finished per second over the last 60 s, from the counters of this minute and the
    previous one (the previous weighted by how much of it is within the last 60 s)."""
    if not history:
        return 0.0
    *earlier, current = history
    done: float = current.finished
    if earlier:
        weight = 1.0 - (now - current.at) / 60.0
        done += earlier[-1].finished * max(weight, 0.0)
    return round(done / 60.0, 3)


class Admin:
    """The operator's view of every queue on one Redis server. Use ``async with``: entering
    checks the URL and that the server answers."""

    def __init__(self, redis_url: str, *, timeout: float = 5.0) -> None:
        self.url = redis_url
        self._timeout = timeout
        self._queues: dict[str, Queue] = {}
        try:
            self.redis: aredis.Redis = async_client(
                parse(redis_url), socket_timeout=timeout, resend=True, max_connections=20)
        except ValueError as exc:
            raise ConfigError(f"bad Redis URL {redact_url(redis_url)!r}: {exc}") from None

    async def __aenter__(self) -> Admin:
        await self.redis.ping()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for queue in self._queues.values():
            await queue.aclose()
        await self.redis.aclose()

    async def queue(self, name: str) -> Queue:
        """A known queue (one with a worker, or with jobs enqueued), without its tasks."""
        check_queue_name(name)
        if name not in self._queues:
            if not await self.redis.sismember(REGISTRY, name):
                raise NotFound(f"no queue named {name!r} at {redact_url(self.url)}")
            if name not in self._queues:  # another call may have made it meanwhile
                settings = Settings(redis_url=self.url, socket_timeout=self._timeout)
                self._queues[name] = Queue(name, settings=settings,
                                           shards=await stored_shards(self.redis, name))
        return self._queues[name]

    # -- reads ------------------------------------------------------------------------------

    async def info(self, names: Sequence[str] = ()) -> list[QueueSummary]:
        """Every known queue (or the ones named), by name."""
        if names:
            queues = [await self.queue(name) for name in names]
        else:
            queues = [await self.queue(name) for name in await known_queues(self.redis)]
        return [await self._summary(queue) for queue in queues]

    async def _summary(self, queue: Queue) -> QueueSummary:
        inspect = Inspector(queue, self.redis)
        counts = await inspect.counts()
        history = await inspect.history(2)
        return QueueSummary(
            name=queue.name, pending=counts.pending, scheduled=counts.scheduled,
            running=counts.running, waiting=counts.waiting, complete=counts.complete,
            failed=counts.failed,
            dead=counts.dead, cancelled=counts.cancelled, expired=counts.expired,
            retried=counts.retried, workers=counts.workers, paused=counts.paused,
            jobs_per_second=per_second(history, time.time()),
        )

    async def jobs(
        self, name: str, status: str, *, limit: int = 20, task: str | None = None
    ) -> list[JobSummary]:
        """Up to ``limit`` jobs in ``status`` (one of ``LISTED``), of ``task`` only if given:
        waiting ones oldest first, failed and dead ones newest first."""
        if status not in LISTED:
            raise ConfigError(f"status must be one of {', '.join(LISTED)}, got {status!r}")
        if limit < 1:
            raise ConfigError("limit must be 1 or more")
        queue = await self.queue(name)
        if status == "dead":
            rows = [_dead_row(letter) for letter in await queue.inspect.dead_letters(
                limit * TASK_FILTER_SCAN if task else limit)]
            return [JobSummary(id=row.job_id or "", task=row.task or "", status="dead",
                               attempts=0, priority=0, enqueued_at=None, started_at=None,
                               finished_at=row.at, error=f"{row.reason}: {row.message}")
                    for row in rows if task is None or row.task == task][:limit]
        state = JobState(status)
        if task is None:
            return [_summary(info) for info in await queue.inspect.jobs(state, limit=limit)]
        found: list[JobSummary] = []
        offset, page = 0, max(limit, 100)
        while len(found) < limit and offset < limit * TASK_FILTER_SCAN:
            infos = await queue.inspect.jobs(state, offset=offset, limit=page)
            found += [_summary(info) for info in infos if info.task == task]
            if len(infos) < page:
                break
            offset += page
        return found[:limit]

    async def job(self, name: str, job_id: str) -> JobDetail:
        """One job: its record, its call's arguments when kept, its result or error."""
        queue = await self.queue(name)
        check_job_id(job_id)
        info = await queue.inspect.job(job_id)
        if info is None:
            raise NotFound(f"queue {name!r} has no job {job_id!r} (never enqueued, or expired)")
        queue = queue.shard_of(job_id)
        record = cast("list[bytes | None]", await self.redis.hmget(
            queue.keys.job(job_id), [Field.OUTCOME.value, Field.PAYLOAD.value]))
        outcome_raw, payload = record
        if payload is None and info.status is JobState.DEAD:
            letter = await dead_letter_of(queue, job_id)
            payload = letter[1].payload if letter is not None else None
        elif payload is None and info.status is JobState.RUNNING:
            payload = await self._running_entry(queue, job_id)
        args: list[Any] | None = None
        if payload is not None:
            try:
                decoded = _decode_plain(bytes(ENVELOPE_DECODER.decode(payload).args))
                args = decoded if isinstance(decoded, list) else [decoded]
            except (msgspec.DecodeError, RecursionError):
                args = None
        result: Any = None
        failure: ErrorDetail | None = None
        if outcome_raw is not None:
            outcome = OUTCOME_DECODER.decode(outcome_raw)
            if outcome.error is not None:
                e = outcome.error
                failure = ErrorDetail(kind=e.kind.value, type=e.type, message=e.message,
                                      traceback=e.traceback)
            else:
                result = _decode_plain(bytes(outcome.value))
        s = _summary(info)
        return JobDetail(
            id=s.id, task=s.task, status=s.status, attempts=s.attempts, priority=s.priority,
            enqueued_at=s.enqueued_at, started_at=s.started_at, finished_at=s.finished_at,
            error=s.error, queue=name, args=args, result=result, failure=failure,
            expires_at=info.expires_at, progress=info.progress,
            progress_message=info.progress_message, logs=await queue.inspect.job_logs(job_id),
        )


    async def _running_entry(self, queue: Queue, job_id: str) -> bytes | None:
        for worker in await Inspector(queue, self.redis).workers():
            entries = cast("list[bytes]", await self.redis.lrange(
                queue.keys.processing(worker.id), 0, RUNNING_SEARCH - 1))
            for entry in entries:
                try:
                    if ENVELOPE_DECODER.decode(entry).id == job_id:
                        return entry
                except (msgspec.DecodeError, RecursionError):
                    continue
        return None

    async def workers(self, name: str | None = None) -> list[WorkerRow]:
        """The workers of one queue, or of every known queue, most recent beat first."""
        names = [name] if name is not None else await known_queues(self.redis)
        rows: list[WorkerRow] = []
        for queue_name in names:
            queue = await self.queue(queue_name)
            rows += [WorkerRow(queue=queue_name, id=w.id, alive=w.alive, running=w.running,
                               last_beat=w.last_beat, host=w.host, pid=w.pid, started=w.started,
                               queues=list(w.queues))
                     for w in await Inspector(queue, self.redis).workers()]
        return rows

    async def dead(self, name: str, *, limit: int = 20) -> list[DeadRow]:
        """The newest dead letters, newest first."""
        if limit < 1:
            raise ConfigError("limit must be 1 or more")
        queue = await self.queue(name)
        return [_dead_row(letter) for letter in await queue.inspect.dead_letters(limit)]

    # -- actions ----------------------------------------------------------------------------

    async def requeue_dead(self, name: str, *, limit: int | None = None) -> int:
        return await (await self.queue(name)).inspect.requeue_dead_letters(limit)

    async def purge_dead(self, name: str) -> int:
        return await (await self.queue(name)).inspect.purge_dead_letters()

    async def cancel(self, name: str, job_id: str) -> JobSummary:
        """Cancel a job that has not finished; raises ``NotAllowed`` when it has."""
        queue = await self.queue(name)
        info = await self._known_job(queue, job_id)
        if not await queue.cancel(job_id):
            after = await queue.inspect.job(job_id) or info
            raise NotAllowed(f"job {job_id!r} has finished ({after.status.value}); not cancelled")
        return _summary(await queue.inspect.job(job_id) or info)

    async def retry(self, name: str, job_id: str) -> JobSummary:
        """Enqueue a failed or dead-lettered job again with its original call (``retry_job``)."""
        queue = await self.queue(name)
        await retry_job(queue, job_id)
        after = await queue.inspect.job(job_id)
        return _summary(after) if after is not None else JobSummary(
            id=job_id, task="", status=JobState.QUEUED.value, attempts=0, priority=0,
            enqueued_at=None, started_at=None, finished_at=None, error=None)

    async def pause(self, name: str) -> None:
        await (await self.queue(name)).pause()

    async def resume(self, name: str) -> None:
        await (await self.queue(name)).resume()

    async def _known_job(self, queue: Queue, job_id: str) -> JobInfo:
        check_job_id(job_id)
        info = await queue.inspect.job(job_id)
        if info is None:
            raise NotFound(f"queue {queue.name!r} has no job {job_id!r} (never enqueued, or expired)")
        return info

