"""Tasks: typed wrappers around user functions, and the calls they make into jobs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

import msgspec

from .blocking import refuse_in_event_loop
from .codec import TaskCodec, encode_envelope
from .context import Context
from .errors import ConfigError
from .ids import new_job_id
from .job import Job, SyncJob
from .protocol import MAX_PRIORITY, NOW, Envelope, When, check_job_id

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


def default_task_name(fn: Callable[..., Any]) -> str:
    """``module.qualname``, with the module's real name when it runs as ``__main__``.

    Under ``python -m pkg.app`` the module is ``__main__`` but workers import ``pkg.app``, so the
    name comes from ``__main__.__spec__``. A script run by path has no spec, and no name that
    a worker could import: that raises ``ConfigError``.
    """
    module = fn.__module__
    if module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if spec is None:
            raise ConfigError(
                f"task {fn.__qualname__!r} is defined in a script run by path, which workers "
                "cannot import by that name: run it with 'python -m module' or give it "
                "@queue.task(name=...)"
            )
        module = spec.name
    return f"{module}.{fn.__qualname__}"


class Call(msgspec.Struct, Generic[R_co], frozen=True):
    """A validated, encoded call of a task, ready to enqueue (``Queue.enqueue``, ``enqueue_many``).

    A struct rather than a dataclass: bulk enqueue makes one a job, and this is 4x cheaper."""

    job_id: str
    task: str
    payload: bytes
    enqueued_at: float
    decoder: msgspec.msgpack.Decoder[Any]
    when: When = NOW
    """When it may start: now or at a due time, its priority, its expiry."""


ENQUEUE_BATCH = 1000
"""Jobs a script call enqueues at most, so that no call holds Redis for long."""


def enqueue_batches(calls: Sequence[Call[Any]]) -> list[tuple[When, list[bytes]]]:
    """The payloads of ``calls`` grouped by how they are enqueued (their ``When``), in batches
    of at most ``ENQUEUE_BATCH``: one script call each."""
    when = calls[0].when
    groups: dict[When, list[bytes]]
    if all(call.when is when for call in calls):  # the common case, made cheap
        groups = {when: [call.payload for call in calls]}
    else:
        groups = {}
        for call in calls:
            groups.setdefault(call.when, []).append(call.payload)
    return [(when, payloads[start:start + ENQUEUE_BATCH])
            for when, payloads in groups.items()
            for start in range(0, len(payloads), ENQUEUE_BATCH)]


class Enqueuer(Protocol):
    """What a task needs from its queue (the Queue implements it)."""

    name: str

    @property
    def max_payload_bytes(self) -> int: ...

    async def enqueue(self, call: Call[R]) -> Job[R]: ...

    def enqueue_sync(self, call: Call[R]) -> SyncJob[R]: ...


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How a task's failed attempts are retried: up to ``retries`` more attempts, after
    exponential backoff with full jitter (a random wait up to ``backoff * 2**(attempt-1)``,
    capped at ``backoff_max`` seconds), for exceptions that are instances of ``on``."""

    retries: int = 0
    backoff: float = 1.0
    backoff_max: float = 300.0
    on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff < 0 or self.backoff_max < 0:
            raise ConfigError("retries, retry_backoff and retry_backoff_max must not be negative")


class Task(Generic[P, R]):
    """A function registered on a queue. ``await task.delay(...)`` enqueues a call of it."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str,
        queue: Enqueuer,
        timeout: float | None,
        result_ttl: float | None,
        retry: RetryPolicy,
        is_async: bool,
        priority: int = 0,
    ) -> None:
        self.fn = fn
        self.priority: int = check_priority(priority)
        self.name = name
        self.queue = queue
        self._when = When(priority=priority) if priority else NOW
        self.timeout = timeout
        self.result_ttl = result_ttl
        self.retry = retry
        self.is_async = is_async
        self.codec: TaskCodec = TaskCodec(name, fn)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def call(self, *args: P.args, **kwargs: P.kwargs) -> Call[R]:
        """Validate and encode a call without any Redis I/O."""
        return self._make_call("call", args, kwargs)

    async def delay(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]:
        """Enqueue a call and return its job handle as soon as the job is in Redis.

        Raises ``TaskArgumentError`` (a ``TypeError``) or ``PayloadTooLarge`` before any I/O.
        """
        return await self.queue.enqueue(self._make_call("delay", args, kwargs))

    def delay_sync(self, *args: P.args, **kwargs: P.kwargs) -> SyncJob[R]:
        """Enqueue a call from code with no event loop (a WSGI view, a script, a thread) and
        return its blocking handle; otherwise as ``delay``. Inside a running event loop it
        raises ``BlockingCallError``: use ``await task.delay(...)`` there."""
        refuse_in_event_loop(f"{self.name}.delay_sync", f"{self.name}.delay")
        return self.queue.enqueue_sync(self._make_call("delay_sync", args, kwargs))

    def options(
        self,
        *,
        job_id: str | None = None,
        delay: float | timedelta | None = None,
        at: datetime | None = None,
        priority: int | None = None,
        expires: float | timedelta | datetime | None = None,
    ) -> TaskOptions[P, R]:
        """The same task with options for one enqueue:

        - ``job_id``: your own id; enqueueing an id that exists is a no-op returning its handle,
          so a caller can retry safely;
        - ``delay`` (seconds or a timedelta) or ``at`` (a timezone-aware datetime): run later;
        - ``priority``: 0..9, higher starts first (default: the task's);
        - ``expires`` (seconds or a timedelta from now, or an aware datetime): a job not started
          by then never runs; it ends as expired.
        """
        if delay is not None and at is not None:
            raise ConfigError("give delay or at, not both")
        if job_id is not None:
            check_job_id(job_id)
        now = time.time()
        due = None
        if at is not None:
            due = _aware("at", at).timestamp()
        elif delay is not None:
            due = now + (delay.total_seconds() if isinstance(delay, timedelta) else float(delay))
        expires_at = None
        if expires is not None:
            if isinstance(expires, datetime):
                expires_at = _aware("expires", expires).timestamp()
            else:
                expires_at = now + (
                    expires.total_seconds() if isinstance(expires, timedelta) else float(expires))
            if expires_at <= now:
                raise ConfigError(f"{self.name}: expires is in the past")
            if due is not None and expires_at <= due:
                raise ConfigError(f"{self.name}: expires is not after the job is due to start")
        priority = self.priority if priority is None else check_priority(priority)
        when = When(due, priority, expires_at)
        return TaskOptions(self, job_id, NOW if when == NOW else when)

    def _make_call(
        self,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        job_id: str | None = None,
        when: When | None = None,
    ) -> Call[R]:
        encoded_args = self.codec.encode_args(method, args, kwargs)
        job_id = job_id or new_job_id()
        now = time.time()
        envelope = Envelope(job_id, self.name, msgspec.Raw(encoded_args), now)
        payload = encode_envelope(envelope, task=self.name, limit=self.queue.max_payload_bytes)
        return Call(job_id, self.name, payload, now, self.codec.result_decoder, when or self._when)

    def _inline_args(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.codec.context_index is None:
            return args
        ctx = Context(job_id="inline", task=self.name, attempt=1, queue=self.queue.name,
                      worker_id="inline")
        return (ctx, *args)

    def __repr__(self) -> str:
        return f"<Task {self.name} of queue {self.queue.name!r}>"


class TaskOptions(Generic[P, R]):
    """A task with per-enqueue options; see ``Task.options``."""

    __slots__ = ("_job_id", "_task", "_when")

    def __init__(self, task: Task[P, R], job_id: str | None, when: When) -> None:
        self._task = task
        self._job_id = job_id
        self._when = when

    def call(self, *args: P.args, **kwargs: P.kwargs) -> Call[R]:
        return self._task._make_call("call", args, kwargs, self._job_id, self._when)

    async def delay(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]:
        call = self._task._make_call("delay", args, kwargs, self._job_id, self._when)
        return await self._task.queue.enqueue(call)

    def delay_sync(self, *args: P.args, **kwargs: P.kwargs) -> SyncJob[R]:
        name = self._task.name
        refuse_in_event_loop(f"{name}.options(...).delay_sync", f"{name}.options(...).delay")
        call = self._task._make_call("delay_sync", args, kwargs, self._job_id, self._when)
        return self._task.queue.enqueue_sync(call)


def check_priority(priority: int) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
        raise ConfigError(f"priority must be an int from 0 to {MAX_PRIORITY}, got {priority!r}")
    return priority


def _aware(name: str, moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ConfigError(f"{name}= needs a timezone-aware datetime (such as "
                          f"datetime.now(timezone.utc)), got the naive {moment.isoformat()}")
    return moment


class AsyncTask(Task[P, R]):
    """A task made from an ``async def``; calling it runs the function inline."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        result: Coroutine[Any, Any, R] = self.fn(*self._inline_args(args), **kwargs)
        return result


class SyncTask(Task[P, R]):
    """A task made from a plain ``def``; workers run it in a thread, calling it runs it inline."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        result: R = self.fn(*self._inline_args(args), **kwargs)
        return result
