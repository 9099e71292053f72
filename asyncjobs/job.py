"""Job handles and job records: what callers hold and read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import msgspec

from .errors import JobCancelled, JobDeadLettered, JobExpired, JobFailed, JobNotFound, TaskTimeout
from .protocol import (
    OUTCOME_DECODER,
    ErrorKind,
    Field,
    JobState,
    Outcome,
    QueuedEntry,
    QueueKeys,
    decode_queued,
)
from .waiter import WaitHint

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

JobStatus = JobState
"""The states of a job (``JobInfo.status``): an alias of ``protocol.JobState``."""


@dataclass(frozen=True, kw_only=True)
class JobInfo:
    """A job's record. Times are Unix timestamps; ``error`` is ``"Type: message"`` of the failure
    (or, while a retry is scheduled, of the last failed attempt)."""

    id: str
    task: str
    status: JobState
    attempts: int
    enqueued_at: float | None
    started_at: float | None
    finished_at: float | None
    error: str | None
    priority: int = 0
    expires_at: float | None = None
    """When a job that has not started expires (None: never, or it has started)."""
    progress: float | None = None
    """The last progress its task reported, 0.0..1.0 (``Context.progress``); None if none."""
    progress_message: str | None = None

    @classmethod
    def from_record(cls, job_id: str, record: dict[bytes, bytes]) -> JobInfo:
        """From the job record hash (``protocol.Field``)."""

        def text(field: Field) -> str | None:
            raw = record.get(field.encode())
            return raw.decode() if raw is not None else None

        def number(field: Field) -> float | None:
            raw = text(field)
            return float(raw) if raw is not None else None

        error = text(Field.LAST_ERROR)  # of a job waiting for its retry
        outcome_raw = record.get(Field.OUTCOME.encode())
        if outcome_raw is not None:
            failure = OUTCOME_DECODER.decode(outcome_raw).error
            error = f"{failure.type}: {failure.message}" if failure is not None else None
        state = text(Field.STATE) or (JobState.COMPLETE if outcome_raw is not None else JobState.QUEUED)
        return cls(
            id=job_id,
            task=text(Field.TASK) or "",
            status=JobState(state),
            attempts=int(text(Field.ATTEMPTS) or 0),
            enqueued_at=number(Field.ENQUEUED_AT),
            started_at=number(Field.STARTED_AT),
            finished_at=number(Field.FINISHED_AT),
            error=error,
            priority=int(text(Field.PRIORITY) or 0),
            progress=number(Field.PROGRESS),
            progress_message=text(Field.PROGRESS_MESSAGE),
        )

    @classmethod
    def read(cls, job_id: str, entry: bytes | None, record: dict[bytes, bytes]) -> JobInfo | None:
        """From a read of the queued hash's entry, then of the record (in that order: a job
        moves from the one to the other, never back); None when neither is there."""
        if record:
            return cls.from_record(job_id, record)
        return cls.from_queued(job_id, decode_queued(entry)) if entry else None

    @classmethod
    def from_queued(cls, job_id: str, entry: QueuedEntry) -> JobInfo:
        """A job not yet started, from its queued entry."""
        return cls(
            id=job_id,
            task=entry.task,
            status=entry.state,
            attempts=0,
            enqueued_at=entry.enqueued_at,
            started_at=None,
            finished_at=None,
            error=None,
            priority=entry.priority,
            expires_at=entry.expires_at,
        )


class LogLine(NamedTuple):
    """One line of a job's log (``Context.log``): when it was written (Unix time), and what."""

    at: float
    line: str


class _Pipe(Protocol):
    """The commands a stored outcome is read with, on a blocking or an asyncio pipeline."""

    def hexists(self, name: str, key: str) -> Any: ...

    def hmget(self, name: str, keys: list[str], *args: str) -> Any: ...


def queue_outcome_reads(pipe: _Pipe, keys: QueueKeys, job_id: str) -> None:
    """Queue on ``pipe`` the reads that ``outcome_from_reads`` takes the replies of."""
    pipe.hexists(keys.queued, job_id)  # first, as in JobInfo.read
    pipe.hmget(keys.job(job_id), [Field.OUTCOME, Field.TASK, Field.STATE])


def outcome_from_reads(queue: str, job_id: str, replies: list[Any]) -> tuple[str, Outcome] | None:
    """The task name and outcome of a finished job, from the replies of
    ``queue_outcome_reads``; None while it has none. Raises ``JobNotFound`` for an unknown job."""
    queued, (outcome_raw, task, state) = replies
    if outcome_raw is None:
        if state is None and not queued:
            raise JobNotFound(f"queue {queue!r} has no job {job_id!r}")
        return None
    return (task or b"").decode(), OUTCOME_DECODER.decode(outcome_raw)


def unwrap_outcome(job_id: str, outcome: Outcome, decoder: msgspec.msgpack.Decoder[Any]) -> Any:
    """The job's return value, or the matching ``JobFailed`` raised."""
    error = outcome.error
    if error is None:
        return decoder.decode(outcome.value)
    failure = {
        ErrorKind.TIMEOUT: TaskTimeout,
        ErrorKind.DEAD: JobDeadLettered,
        ErrorKind.CANCELLED: JobCancelled,
        ErrorKind.EXPIRED: JobExpired,
    }.get(error.kind, JobFailed)
    raise failure(job_id, error.type, error.message, error.traceback)


class _JobReader(Protocol):
    async def job(self, job_id: str) -> JobInfo | None: ...


class ResultSource(Protocol):
    """What a ``Job`` handle needs from its queue."""

    @property
    def keys(self) -> QueueKeys: ...

    @property
    def inspect(self) -> _JobReader: ...

    async def cancel(self, job_id: str) -> bool: ...

    async def _wait(
        self, job_id: str, timeout: float | None, hint: WaitHint | None = None
    ) -> tuple[str, Outcome]: ...


class Job(Generic[R_co]):
    """A handle on an enqueued job; ``await job.result()`` has the task's return type."""

    __slots__ = ("_decoder", "_hint", "_source", "id", "task")

    id: str
    task: str

    def __init__(
        self,
        job_id: str,
        task: str,
        source: ResultSource,
        decoder: msgspec.msgpack.Decoder[Any],
        hint: WaitHint | None = None,
    ) -> None:
        self.id = job_id
        self.task = task
        self._source = source
        self._decoder = decoder
        self._hint = hint  # from the result waiter, just before this job was enqueued

    @property
    def dependency(self) -> str:
        """How a job that waits for this one names it (``options(after=...)``)."""
        return f"{self._source.keys.key_base} {self.id}"

    async def result(self, timeout: float | None = None) -> R_co:
        """Wait for the job to finish and return its value.

        Raises ``JobFailed`` (or ``TaskTimeout``, ``JobDeadLettered``, ``JobCancelled``,
        ``JobExpired``) if it failed, and
        ``ResultTimeout`` (a ``TimeoutError``) if ``timeout`` seconds pass first.
        """
        _, outcome = await self._source._wait(self.id, timeout, self._hint)
        self._hint = None  # good for the first wait only
        value: R_co = unwrap_outcome(self.id, outcome, self._decoder)
        return value

    async def cancel(self) -> bool:
        """Cancel the job if it has not finished (``queue.cancel``): True when it is cancelled,
        False when it had finished otherwise."""
        return await self._source.cancel(self.id)

    async def info(self) -> JobInfo | None:
        """The job's record now (``queue.inspect.job(id)``)."""
        return await self._source.inspect.job(self.id)

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, task={self.task!r})"


class SyncResultSource(Protocol):
    """What a ``SyncJob`` handle needs from its queue."""

    @property
    def keys(self) -> QueueKeys: ...

    def job_sync(self, job_id: str) -> JobInfo | None: ...

    def cancel_sync(self, job_id: str) -> bool: ...

    def _wait_sync(self, job_id: str, timeout: float | None) -> tuple[str, Outcome]: ...


class SyncJob(Generic[R_co]):
    """A handle on a job enqueued with no event loop (``task.delay_sync``): its methods block.
    ``job.result()`` has the task's return type."""

    __slots__ = ("_decoder", "_source", "id", "task")

    id: str
    task: str

    def __init__(
        self, job_id: str, task: str, source: SyncResultSource, decoder: msgspec.msgpack.Decoder[Any]
    ) -> None:
        self.id = job_id
        self.task = task
        self._source = source
        self._decoder = decoder

    @property
    def dependency(self) -> str:
        """How a job that waits for this one names it (``options(after=...)``)."""
        return f"{self._source.keys.key_base} {self.id}"

    def result(self, timeout: float | None = None) -> R_co:
        """Block until the job finishes and return its value; raises as ``Job.result``."""
        _, outcome = self._source._wait_sync(self.id, timeout)
        value: R_co = unwrap_outcome(self.id, outcome, self._decoder)
        return value

    def info(self) -> JobInfo | None:
        """The job's record now (``queue.job_sync(id)``)."""
        return self._source.job_sync(self.id)

    def cancel(self) -> bool:
        """Cancel the job if it has not finished (``queue.cancel_sync``)."""
        return self._source.cancel_sync(self.id)

    def __repr__(self) -> str:
        return f"SyncJob(id={self.id!r}, task={self.task!r})"
