"""Run one job: decode it, run its task under its timeout, and record the outcome atomically.

Input that cannot run (undecodable bytes, a wrong envelope, an unknown task, arguments that do
not fit the signature, an oversized payload) goes to the dead-letter list with its reason.
Nothing taken from a payload is ever imported or evaluated: a task name only resolves in the
queue's own registry.
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec

from .. import tracing
from ..connection import UNREACHABLE, Backoff
from ..context import CallNext, Context
from ..errors import ConfigError
from ..protocol import (
    ENCODER,
    ENVELOPE_DECODER,
    Envelope,
    ErrorInfo,
    ErrorKind,
    JobState,
    Outcome,
    check_job_id,
    encode_notice,
)
from ..protocol import DeadLetter as DeadLetterRecord
from ..queue import Queue
from ..scripts import Finished, Scripts
from ..task import Task
from .acker import RETRY_FOR, Acker
from .decide import Cancelled, DeadLetter, Disposition, RetryAt, decide
from .journal import Journal
from .lease import JobScope, Lease
from .observer import JobObserver

log: logging.Logger = logging.getLogger(__name__)

_LAST_REPORTS_FOR = 2.0
Step = Callable[[], Awaitable[bool]] | Finished
"""How a run's outcome is recorded: a script call, or a job for the acker's next batch."""


class Poison(Exception):
    """A job that cannot run; ``reason`` is its dead-letter reason code."""

    def __init__(self, reason: str, message: str, job_id: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.job_id = job_id


@dataclass(slots=True)
class _Run:
    """One run of a fetched job, as far as recording its outcome needs."""

    entry: bytes
    attempt: int
    token: str
    started: float  # time.perf_counter()
    done: Callable[[], None]  # called once, when the run's outcome is recorded (or left)
    job_id: str | None = None  # None for input too broken to name its job
    task: Task[Any, Any] | None = None  # None for input that names no task of ours
    handed: bool = False  # the acker records its outcome, and calls ``done``


class Executor:
    def __init__(
        self,
        queue: Queue,
        scripts: Scripts,
        acker: Acker,
        lease: Lease,
        journal: Journal,
        *,
        processing: str,
        worker_id: str,
        state: dict[str, Any],
        thread_limiter: anyio.CapacityLimiter,
        observer: JobObserver | None = None,
    ) -> None:
        self._queue = queue
        self._name = queue.origin.name  # what logs, metrics and traces call it (not a shard's)
        self._scripts = scripts
        self._acker = acker
        self._lease = lease
        self._journal = journal
        self._middlewares = queue.middlewares
        self._processing = processing
        self._worker_id = worker_id
        self._state = state
        self._threads = thread_limiter
        self._settings = queue.settings
        self._runs = itertools.count(1)
        self._stoppable: dict[str, JobScope] = {}  # running async task calls, by job id
        self._observer = observer

    def running_ids(self) -> list[str]:
        """The ids of the running jobs that ``cancel`` can stop."""
        return list(self._stoppable)

    def cancel(self, job_id: str) -> bool:
        """Stop the running call of a cancelled job, if it runs here as an ``async`` task (a
        thread cannot be stopped: a sync task's result is dropped when it returns)."""
        scope = self._stoppable.get(job_id)
        if scope is None:
            return False
        scope.cancel()
        return True

    async def run(self, entry: bytes, attempt: int, done: Callable[[], None]) -> None:
        """Run one fetched job and record its outcome; ``done`` is called once that is done:
        when this call returns, or later, by the acker, for a job that completed or failed (so
        its runner goes on meanwhile). Cancellation (shutdown, or the lease's fence) leaves the
        job in our list, unrecorded."""
        # this execution's token: unique, so that finishing scripts tell a re-sent call of this
        # run (the same token) from another run of the job (counted as a duplicate)
        run = _Run(entry, attempt, f"{self._worker_id}:{next(self._runs)}", time.perf_counter(),
                   done)
        try:
            await self._run(run)
        finally:
            if not run.handed:
                done()

    async def _run(self, run: _Run) -> None:
        entry, attempt = run.entry, run.attempt
        try:
            envelope, task = self._decode(entry)
            args, kwargs = self._decode_args(envelope, task)
        except Poison as poison:
            run.job_id = poison.job_id
            outcome = _error(ErrorKind.DEAD, poison.reason, str(poison))
            await self._finish(run, self.step(run, DeadLetter(poison.reason, str(poison)), outcome))
            return
        run.job_id, run.task = envelope.id, task
        ctx: Context | None = None
        if task.codec.context_index is not None or self._middlewares:
            ctx = Context(
                job_id=envelope.id, task=task.name, attempt=attempt, queue=self._name,
                worker_id=self._worker_id, state=self._state,
                notes=self._journal.open(envelope.id),
            )
            if task.codec.context_index is not None:
                args.insert(0, ctx)
        if self._observer is not None:
            self._observer.job_started(self._name, task.name,
                                       time.time() - envelope.enqueued_at if attempt == 1 else None)
        tracer = tracing.tracer()
        if tracer is None:
            await self._execute(run, task, args, kwargs, ctx)
            return
        with tracing.running(tracer, self._name, envelope, attempt, self._worker_id) as span:
            ended = await self._execute(run, task, args, kwargs, ctx)
            if ended is not None:
                tracing.ended(span, *ended)

    async def _execute(
        self, run: _Run, task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any],
        ctx: Context | None,
    ) -> tuple[Outcome, Exception | None] | None:
        """Run a decoded job under its timeout and record its outcome; returns the outcome and
        the exception the task raised, or None when the fence stopped it (it runs again)."""
        job_id = run.job_id
        assert job_id is not None
        try:
            with self._lease.scope(task.timeout) as scope:
                if task.is_async:
                    self._stoppable[job_id] = scope
                try:
                    outcome, exc = await self._call(task, args, kwargs, ctx)
                finally:
                    if task.is_async:
                        del self._stoppable[job_id]
        finally:
            if ctx is not None and ctx.notes is not None:
                # its last reports, before its outcome; bounded, even when stopping
                with anyio.move_on_after(_LAST_REPORTS_FOR, shield=True):
                    await self._journal.close(ctx.notes)
        if scope.fenced:
            log.debug("job %s: cancelled by the fence; it will run again", job_id)
            if self._observer is not None:
                self._observer.job_finished(self._name, task.name, "fenced",
                                            time.perf_counter() - run.started)
            return None
        if scope.cancelled:
            outcome, exc = _error(ErrorKind.CANCELLED, "JobCancelled", "cancelled"), None
        elif scope.timed_out:
            message = f"{task.name} ran over its timeout of {task.timeout} s"
            outcome, exc = _error(ErrorKind.TIMEOUT, "TaskTimeout", message), None
        decision = decide(task.retry, run.attempt, outcome, exc)
        await self._finish(run, self.step(run, decision, outcome))
        return outcome, exc

    def step(self, run: _Run, disposition: Disposition, outcome: Outcome) -> Step:
        """What carries out a run's disposition, a script call or the acker's (each one atomic
        and fenced: it first removes the entry from our own list); logs the disposition in one
        line."""
        now = time.time()
        if self._observer is not None:
            self._observe(run, disposition, outcome)
        if isinstance(disposition, DeadLetter):
            log.warning("dead-lettering a job (%s): %s", disposition.reason, disposition.message,
                        extra=self._fields(run, "dead"))
            record = DeadLetterRecord(
                reason=disposition.reason, message=disposition.message, payload=run.entry,
                queue=self._name, worker_id=self._worker_id, at=now, job_id=run.job_id,
            )
            return functools.partial(
                self._scripts.dead, self._processing, run.entry, record=ENCODER.encode(record),
                job_id=run.job_id, outcome=ENCODER.encode(outcome), finished_at=now,
                reason=disposition.reason,
            )
        task, job_id = run.task, run.job_id
        assert task is not None and job_id is not None  # only poison has neither
        if isinstance(disposition, RetryAt):
            assert outcome.error is not None
            error = f"{outcome.error.type}: {outcome.error.message}"
            if disposition.requested:
                log.info("job %s (%s): retrying in %.2f s", job_id, task.name, disposition.delay,
                         extra=self._fields(run, "retried"))
            else:
                log.warning("job %s (%s) attempt %d failed: %s; retrying in %.2f s",
                            job_id, task.name, run.attempt, error, disposition.delay,
                            extra=self._fields(run, "retried"))
            return functools.partial(
                self._scripts.retry, self._processing, run.entry, job_id=job_id,
                due=now + disposition.delay, error=error, token=run.token,
            )
        state = JobState.COMPLETE
        if isinstance(disposition, Cancelled):
            state = JobState.CANCELLED
            log.info("job %s (%s) stopped: it was cancelled", job_id, task.name,
                     extra=self._fields(run, "cancelled"))
        elif outcome.error is not None:
            state = JobState.FAILED
            log.warning("job %s (%s) failed: %s: %s", job_id, task.name, outcome.error.type,
                        outcome.error.message, extra=self._fields(run, "failed"))
        elif log.isEnabledFor(logging.INFO):
            fields = self._fields(run, "complete")
            log.info("job %s (%s) complete in %.1f ms", job_id, task.name,
                     fields["duration"] * 1000, extra=fields)
        ttl = task.result_ttl if task.result_ttl is not None else self._settings.result_ttl
        encoded = ENCODER.encode(outcome)
        return Finished(run.entry, job_id, state, encoded, now, ttl, run.token,
                        encode_notice(job_id, task.name, encoded))

    def _fields(self, run: _Run, outcome: str) -> dict[str, Any]:
        """The job's fields of a log line (``extra=``; see ``asyncjobs.logs``)."""
        return {"queue": self._name, "task": run.task.name if run.task else None,
                "job_id": run.job_id, "attempt": run.attempt, "outcome": outcome,
                "duration": round(time.perf_counter() - run.started, 6)}

    def _observe(self, run: _Run, disposition: Disposition, outcome: Outcome) -> None:
        assert self._observer is not None
        if isinstance(disposition, DeadLetter):
            name = "dead"
        elif isinstance(disposition, RetryAt):
            name = "retried"
        elif isinstance(disposition, Cancelled):
            name = "cancelled"
        else:
            name = "complete" if outcome.error is None else "failed"
        duration = time.perf_counter() - run.started if run.task is not None else None
        self._observer.job_finished(self._name, run.task.name if run.task else "", name,
                                    duration)

    def _decode(self, entry: bytes) -> tuple[Envelope, Task[Any, Any]]:
        if len(entry) > self._settings.max_payload_bytes:
            raise Poison("payload_too_large", f"payload of {len(entry)} bytes is over the limit")
        try:
            envelope = ENVELOPE_DECODER.decode(entry)
        except msgspec.ValidationError as exc:
            raise Poison("invalid_envelope", str(exc)) from None
        except (msgspec.DecodeError, RecursionError, MemoryError) as exc:
            raise Poison("decode_error", f"{type(exc).__name__}: {exc}") from None
        try:
            check_job_id(envelope.id)
        except ConfigError as exc:  # no record can be kept under such an id
            raise Poison("invalid_envelope", str(exc)) from None
        task = self._queue.tasks.get(envelope.task)
        if task is None:
            raise Poison("unknown_task", f"no task named {envelope.task!r}", envelope.id)
        return envelope, task

    @staticmethod
    def _decode_args(envelope: Envelope, task: Task[Any, Any]) -> tuple[list[Any], dict[str, Any]]:
        try:
            return task.codec.decode_args(envelope.args)
        except msgspec.ValidationError as exc:
            message = f"{task.name}: {task.codec.explain(exc)}"
            raise Poison("invalid_args", message, envelope.id) from None
        except (msgspec.DecodeError, RecursionError) as exc:
            raise Poison("invalid_args", f"{task.name}: {exc}", envelope.id) from None

    async def _call(
        self, task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any], ctx: Context | None
    ) -> tuple[Outcome, Exception | None]:
        """The outcome of one run, and the exception the task (or a middleware) raised, if any
        (a cancellation, by timeout or fence, goes through to the caller's scope)."""
        try:
            if task.is_async and (ctx is None or not self._middlewares):  # the common case
                value = await task.fn(*args, **kwargs)
            else:
                value = await self._chain(task, args, kwargs, ctx)()
            return self._encode_result(task, value), None
        except Exception as exc:
            tb = traceback.format_exc()
            return _error(ErrorKind.ERROR, type(exc).__name__, str(exc), tb), exc

    def _chain(
        self, task: Task[Any, Any], args: list[Any], kwargs: dict[str, Any], ctx: Context | None
    ) -> CallNext:
        """The task's call (a plain ``def`` in a thread) inside the queue's middlewares."""

        async def call() -> Any:
            if task.is_async:
                return await task.fn(*args, **kwargs)
            return await anyio.to_thread.run_sync(
                functools.partial(task.fn, *args, **kwargs),
                abandon_on_cancel=True,
                limiter=self._threads,
            )

        chain: CallNext = call
        if ctx is not None:
            for middleware in reversed(self._middlewares):
                chain = functools.partial(middleware, ctx, chain)
        return chain

    def _encode_result(self, task: Task[Any, Any], value: Any) -> Outcome:
        try:
            encoded = ENCODER.encode(value)
        except (TypeError, ValueError, OverflowError) as exc:
            return _error(ErrorKind.ERROR, "ResultEncodeError", f"{task.name} returned {exc}")
        if len(encoded) > self._settings.max_result_bytes:
            message = f"result of {len(encoded)} bytes is over {self._settings.max_result_bytes}"
            return _error(ErrorKind.ERROR, "ResultTooLarge", message)
        return Outcome(value=msgspec.Raw(encoded))

    async def _finish(self, run: _Run, step: Step) -> None:
        """Carry out an atomic finishing step, retrying through connection errors for a while:
        a finished job goes to the acker (which calls ``run.done`` once it is recorded), a script
        call is made here.

        The step is fenced (it first removes the entry from our own list), so a retry after a
        lost reply stores nothing twice.
        """
        if isinstance(step, Finished):
            self._acker.finish(step, functools.partial(self._acked, run))
            run.handed = True
            return
        stored: bool | None
        try:
            stored = await step()
        except UNREACHABLE as exc:
            if self._observer is not None:
                self._observer.redis_error(self._name, "finish")
            stored = await self._finish_later(run, step, exc)
        _stored(run, stored)

    @staticmethod
    def _acked(run: _Run, stored: bool | None) -> None:
        _stored(run, stored)
        run.done()

    async def _finish_later(
        self, run: _Run, step: Callable[[], Awaitable[bool]], exc: Exception
    ) -> bool | None:
        """Try ``step`` again until Redis answers, for ``RETRY_FOR`` seconds at most; None when
        it never did (the job stays in our list, for reconcile or a reaper)."""
        deadline = time.monotonic() + RETRY_FOR
        backoff = Backoff()
        while time.monotonic() < deadline:
            await backoff.wait()
            try:
                return await step()
            except UNREACHABLE as again:
                exc = again
        log.error("job %s: could not record its outcome: %s; it stays in our list",
                  run.job_id, exc)
        return None


def _stored(run: _Run, stored: bool | None) -> None:
    if stored is False:
        log.warning("job %s: already finished or no longer ours; not stored again", run.job_id)


def _error(kind: ErrorKind, exc_type: str, message: str, tb: str = "") -> Outcome:
    return Outcome(error=ErrorInfo(kind, exc_type, message, tb))
