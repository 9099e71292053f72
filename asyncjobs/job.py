"""Job handles and job records: what callers hold and read."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from .codec import OUTCOME_DECODER, ErrorKind, Outcome
from .errors import JobDeadLettered, JobFailed, TaskTimeout

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class JobStatus(StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    DEAD = "dead"


@dataclass(frozen=True, kw_only=True)
class JobInfo:
    """A job's record. Times are Unix timestamps; ``error`` is ``"Type: message"`` of the failure
    (or, while a retry is scheduled, of the last failed attempt)."""

    id: str
    task: str
    status: JobStatus
    attempts: int
    enqueued_at: float | None
    started_at: float | None
    finished_at: float | None
    error: str | None

    @classmethod
    def from_record(cls, job_id: str, record: dict[bytes, bytes]) -> JobInfo:
        def number(field: bytes) -> float | None:
            raw = record.get(field)
            return float(raw) if raw is not None else None

        last_error = record.get(b"le")  # of a job waiting for its retry
        error = last_error.decode() if last_error is not None else None
        outcome_raw = record.get(b"r")
        if outcome_raw is not None:
            outcome = OUTCOME_DECODER.decode(outcome_raw)
            failure = outcome.error
            error = f"{failure.type}: {failure.message}" if failure is not None else None
        status = record.get(b"s", b"complete" if outcome_raw is not None else b"queued")
        return cls(
            id=job_id,
            task=record.get(b"t", b"").decode(),
            status=JobStatus(status.decode()),
            attempts=int(record.get(b"a", b"0")),
            enqueued_at=number(b"e"),
            started_at=number(b"st"),
            finished_at=number(b"f"),
            error=error,
        )

    @classmethod
    def from_queued(cls, job_id: str, meta: bytes) -> JobInfo:
        """A job not yet started, from its queued-hash entry ``<q|s><enqueued_at> <task>``."""
        head, _, task = meta.decode().partition(" ")
        return cls(
            id=job_id,
            task=task,
            status=JobStatus.QUEUED if head[:1] == "q" else JobStatus.SCHEDULED,
            attempts=0,
            enqueued_at=float(head[1:]),
            started_at=None,
            finished_at=None,
            error=None,
        )


def unwrap_outcome(job_id: str, outcome: Outcome, decoder: msgspec.msgpack.Decoder[Any]) -> Any:
    """The job's return value, or the matching ``JobFailed`` raised."""
    error = outcome.error
    if error is None:
        return decoder.decode(outcome.value)
    failure = {
        ErrorKind.TIMEOUT: TaskTimeout,
        ErrorKind.DEAD: JobDeadLettered,
    }.get(error.kind, JobFailed)
    raise failure(job_id, error.type, error.message, error.traceback)


class ResultSource(Protocol):
    """What a ``Job`` handle needs from its queue."""

    async def wait_outcome(
        self, job_id: str, timeout: float | None, mark: int | None = None
    ) -> Outcome: ...

    async def job(self, job_id: str) -> JobInfo | None: ...


class Job(Generic[R_co]):
    """A handle on an enqueued job; ``await job.result()`` has the task's return type."""

    __slots__ = ("_decoder", "_mark", "_source", "id", "task")

    def __init__(
        self,
        job_id: str,
        task: str,
        source: ResultSource,
        decoder: msgspec.msgpack.Decoder[Any],
        mark: int | None = None,
    ) -> None:
        self.id = job_id
        self.task = task
        self._source = source
        self._decoder = decoder
        self._mark = mark  # the result waiter's mark, taken just before this job was enqueued

    async def result(self, timeout: float | None = None) -> R_co:
        """Wait for the job to finish and return its value.

        Raises ``JobFailed`` (or ``TaskTimeout``, ``JobDeadLettered``) if it failed, and
        ``ResultTimeout`` (a ``TimeoutError``) if ``timeout`` seconds pass first.
        """
        outcome = await self._source.wait_outcome(self.id, timeout, self._mark)
        self._mark = None  # good for the first wait only
        value: R_co = unwrap_outcome(self.id, outcome, self._decoder)
        return value

    async def info(self) -> JobInfo | None:
        return await self._source.job(self.id)

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, task={self.task!r})"
