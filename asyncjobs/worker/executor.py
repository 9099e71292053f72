"""Run one job: decode it, run its task under its timeout, and record the outcome atomically.

Input that cannot run (undecodable bytes, a wrong envelope, an unknown task, arguments that do
not fit the signature, an oversized payload) goes to the dead-letter list with its reason.
Nothing taken from a payload is ever imported or evaluated: a task name only resolves in the
queue's own registry.
"""

from __future__ import annotations

import functools
import logging
import random
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import msgspec
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..context import Context
from ..errors import Retry
from ..protocol import (
    ENCODER,
    ENVELOPE_DECODER,
    DeadLetter,
    Envelope,
    ErrorInfo,
    ErrorKind,
    JobState,
    Outcome,
    encode_notice,
)
from ..queue import Queue
from ..scripts import Finished, Scripts
from ..task import RetryPolicy, Task
from .acker import Acker

log: logging.Logger = logging.getLogger(__name__)

_RETRY_FINISH_FOR = 30.0


class Poison(Exception):
    """A job that cannot run; ``reason`` is its dead-letter reason code."""

    def __init__(self, reason: str, message: str, job_id: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.job_id = job_id


class Executor:
    def __init__(
        self,
        queue: Queue,
        scripts: Scripts,
        acker: Acker,
        *,
        processing: str,
        worker_id: str,
        state: dict[str, Any],
        thread_limiter: anyio.CapacityLimiter,
        executing: set[anyio.CancelScope],
    ) -> None:
        self._queue = queue
        self._scripts = scripts
        self._acker = acker
        self._processing = processing
        self._worker_id = worker_id
        self._state = state
        self._threads = thread_limiter
        self._executing = executing
        self._settings = queue.settings

    async def run(self, entry: bytes, attempt: int) -> None:
        """Run one fetched job to its recorded end. Cancellation (shutdown, or the fence that
        cancels the scopes in ``executing``) leaves it in our list, unacknowledged."""
        try:
            envelope, task = self._decode(entry)
            args, kwargs = self._decode_args(envelope, task)
        except Poison as poison:
            await self._finish(functools.partial(self._dead_letter, entry, poison))
            return
        if task.codec.context_index is not None:
            args.insert(0, Context(
                job_id=envelope.id, task=task.name, attempt=attempt, queue=self._queue.name,
                worker_id=self._worker_id, state=self._state,
            ))
        # one scope a job, for its timeout and for the fence (which cancels it before its deadline)
        with anyio.move_on_after(task.timeout) as scope:
            self._executing.add(scope)
            try:
                outcome, exc = await self._call(task, envelope.id, args, kwargs)
            finally:
                self._executing.discard(scope)
        if scope.cancelled_caught:
            if scope.deadline > anyio.current_time():
                log.warning("job %s: cancelled by the fence; it will run again", envelope.id)
                return
            message = f"{task.name} ran over its timeout of {task.timeout} s"
            log.warning("job %s: %s", envelope.id, message)
            outcome, exc = _error(ErrorKind.TIMEOUT, "TaskTimeout", message), None
        token = f"{self._worker_id}:{attempt}"
        delay = retry_delay(task.retry, attempt, outcome, exc)
        if outcome.error is not None and delay is not None:
            log.info("job %s: attempt %d failed, retrying in %.2f s", envelope.id, attempt, delay)
            await self._finish(functools.partial(
                self._scripts.retry, self._processing, entry, job_id=envelope.id,
                due=time.time() + delay, error=f"{outcome.error.type}: {outcome.error.message}",
                token=token,
            ))
            return
        ttl = task.result_ttl if task.result_ttl is not None else self._settings.result_ttl
        encoded = ENCODER.encode(outcome)
        await self._finish(functools.partial(self._acker.finish, Finished(
            entry, envelope.id, JobState.COMPLETE if outcome.error is None else JobState.FAILED,
            encoded, time.time(), ttl, token, encode_notice(envelope.id, task.name, encoded),
        )))

    def _decode(self, entry: bytes) -> tuple[Envelope, Task[Any, Any]]:
        if len(entry) > self._settings.max_payload_bytes:
            raise Poison("payload_too_large", f"payload of {len(entry)} bytes is over the limit")
        try:
            envelope = ENVELOPE_DECODER.decode(entry)
        except msgspec.ValidationError as exc:
            raise Poison("invalid_envelope", str(exc)) from None
        except (msgspec.DecodeError, RecursionError, MemoryError) as exc:
            raise Poison("decode_error", f"{type(exc).__name__}: {exc}") from None
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
        self, task: Task[Any, Any], job_id: str, args: list[Any], kwargs: dict[str, Any]
    ) -> tuple[Outcome, Exception | None]:
        """The outcome of one run, and the exception the task raised, if any (a cancellation,
        by timeout or fence, goes through to the caller's scope)."""
        try:
            if task.is_async:
                value = await task.fn(*args, **kwargs)
            else:
                value = await anyio.to_thread.run_sync(
                    functools.partial(task.fn, *args, **kwargs),
                    abandon_on_cancel=True,
                    limiter=self._threads,
                )
            return self._encode_result(task, value), None
        except Exception as exc:
            log.warning("job %s (%s) failed: %s: %s", job_id, task.name, type(exc).__name__, exc)
            tb = traceback.format_exc()
            return _error(ErrorKind.ERROR, type(exc).__name__, str(exc), tb), exc

    def _encode_result(self, task: Task[Any, Any], value: Any) -> Outcome:
        try:
            encoded = ENCODER.encode(value)
        except (TypeError, ValueError, OverflowError) as exc:
            return _error(ErrorKind.ERROR, "ResultEncodeError", f"{task.name} returned {exc}")
        if len(encoded) > self._settings.max_result_bytes:
            message = f"result of {len(encoded)} bytes is over {self._settings.max_result_bytes}"
            return _error(ErrorKind.ERROR, "ResultTooLarge", message)
        return Outcome(value=msgspec.Raw(encoded))

    async def _dead_letter(self, entry: bytes, poison: Poison) -> bool:
        now = time.time()
        log.warning("dead-lettering a job (%s): %s", poison.reason, poison)
        record = DeadLetter(
            reason=poison.reason, message=str(poison), payload=entry, queue=self._queue.name,
            worker_id=self._worker_id, at=now, job_id=poison.job_id,
        )
        outcome = _error(ErrorKind.DEAD, poison.reason, str(poison))
        return await self._scripts.dead(
            self._processing, entry, record=ENCODER.encode(record), job_id=poison.job_id,
            outcome=ENCODER.encode(outcome), finished_at=now,
        )

    async def _finish(self, step: Callable[[], Awaitable[bool]]) -> None:
        """Run an atomic finishing step, retrying through connection errors for a while.

        The step is fenced (it first removes the entry from our own list), so a retry after a
        lost reply stores nothing twice.
        """
        deadline = time.monotonic() + _RETRY_FINISH_FOR
        delay = 0.05
        while True:
            try:
                if not await step():
                    log.warning("a job was already finished or no longer ours; not stored again")
                return
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if time.monotonic() > deadline:
                    log.error("could not record a job's outcome: %s; it stays in our list", exc)
                    return
                await anyio.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 5.0)


def _error(kind: ErrorKind, exc_type: str, message: str, tb: str = "") -> Outcome:
    return Outcome(error=ErrorInfo(kind, exc_type, message, tb))


def retry_delay(
    policy: RetryPolicy, attempt: int, outcome: Outcome, exc: Exception | None
) -> float | None:
    """Seconds until the next attempt, or None when this failure is final (or not a failure)."""
    error = outcome.error
    if error is None or attempt > policy.retries:
        return None
    if isinstance(exc, Retry) and exc.delay is not None:
        return max(exc.delay, 0.0)
    if not (isinstance(exc, Retry) or error.kind is ErrorKind.TIMEOUT or isinstance(exc, policy.on)):
        return None
    return random.uniform(0, min(policy.backoff_max, policy.backoff * 2 ** (attempt - 1)))
