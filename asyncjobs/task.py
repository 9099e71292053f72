"""Tasks: typed wrappers around user functions, and the calls they make into jobs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Concatenate, Generic, NamedTuple, ParamSpec, Protocol, TypeVar

import msgspec

from . import tracing
from .blocking import refuse_in_event_loop
from .codec import TaskCodec, encode_envelope
from .config import Settings
from .context import Context
from .errors import ConfigError
from .job import Job, SyncJob
from .limits import RateLimit
from .protocol import (
    MAX_PRIORITY,
    NOW,
    DependencyFailure,
    Envelope,
    Piped,
    QueueKeys,
    Unique,
    When,
    check_job_id,
    check_unique_key,
    encode_unique,
)

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
R2 = TypeVar("R2")
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

    def then(
        self, task: Task[Concatenate[R_co, P2], R2], /, *args: P2.args, **kwargs: P2.kwargs
    ) -> Pipeline[R2]:
        """A pipeline: this call, then ``task`` given this call's value as its first argument
        (and ``args``, ``kwargs``); enqueue it with ``queue.enqueue``."""
        return Pipeline((self,)).then(task, *args, **kwargs)


class Pipeline(Generic[R_co]):
    """Calls of one queue's tasks run one after the other, each given the value of the one
    before as its first argument: ``fetch.call(url).then(parse).then(store, table="posts")``.
    Each step is a job of its own (its retries, timeout and recovery apply to it), enqueued
    at once and waiting for the step before (``options(after=...)``). ``queue.enqueue`` returns
    the last step's handle: its result, or the error of the step that failed (the steps after
    it are cancelled)."""

    __slots__ = ("calls",)

    def __init__(self, calls: tuple[Call[Any], ...]) -> None:
        self.calls: tuple[Call[Any], ...] = calls

    def then(
        self, task: Task[Concatenate[R_co, P2], R2], /, *args: P2.args, **kwargs: P2.kwargs
    ) -> Pipeline[R2]:
        last = self.calls[-1]
        if task.queue.tasks.get(last.task) is None:
            raise ConfigError(f"a pipeline's steps are tasks of one queue: {task.name} is of "
                              f"queue {task.queue.name!r}, and {last.task} is not")
        when = task._when._replace(after=(task.queue.dependency(last.job_id),), piped=Piped.VALUE)
        return Pipeline((*self.calls, task._make_call("then", args, kwargs, when=when, piped=True)))


ENQUEUE_BATCH = 1000
"""Jobs a script call enqueues at most, so that no call holds Redis for long."""


Batch = tuple[When, list["Call[Any]"]]
"""Calls enqueued alike, in one script call."""


def enqueue_batches(calls: Sequence[Call[Any]]) -> list[Batch]:
    """``calls`` grouped by how they are enqueued (their ``When``), in batches of at most
    ``ENQUEUE_BATCH``: one script call each. A call with a unique key is a batch of its own,
    in order, so that the first call of a key takes it and the next ones get its holder; so is
    a call that waits for others (``after``), in order, so it may wait for one enqueued before
    it in the same call."""
    when = calls[0].when
    groups: dict[When, list[Call[Any]]]
    if all(call.when is when for call in calls) and not when.unique and not when.after:
        groups = {when: list(calls)}
    else:
        groups = {}
        for call in calls:
            if not call.when.unique and not call.when.after:
                groups.setdefault(call.when, []).append(call)
    batches = [(when, group[start:start + ENQUEUE_BATCH])
               for when, group in groups.items()
               for start in range(0, len(group), ENQUEUE_BATCH)]
    return batches + [(call.when, [call]) for call in calls
                      if call.when.unique or call.when.after]


def unique_holders(batches: Sequence[Batch], replies: Sequence[list[bool | str]]) -> dict[str, str]:
    """The id of the job holding the unique key of each call whose key was taken, by call id,
    from the replies of the batches' script calls (``scripts.enqueued``)."""
    return {call.job_id: reply for (_, batch), replied in zip(batches, replies, strict=True)
            for call, reply in zip(batch, replied, strict=True) if isinstance(reply, str)}


class _Keyed(Protocol):
    @property
    def keys(self) -> QueueKeys: ...


class Enqueuer(Protocol):
    """What a task needs from its queue (the Queue implements it)."""

    name: str
    tasks: dict[str, Task[Any, Any]]
    settings: Settings

    @property
    def keys(self) -> QueueKeys: ...

    @property
    def shard_queues(self) -> Sequence[_Keyed]: ...

    def dependency(self, job_id: str) -> str: ...

    def new_job_id(self, when: When) -> str: ...

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
        max_concurrency: int | None = None,
        key_concurrency: int | None = None,
        rate_limit: RateLimit | str | None = None,
    ) -> None:
        self.fn = fn
        self.priority: int = check_priority(priority)
        self.max_concurrency: int | None = _check_limit(name, "max_concurrency", max_concurrency)
        self.key_concurrency: int | None = _check_limit(name, "key_concurrency", key_concurrency)
        self.rate_limit: RateLimit | None = (
            RateLimit.parse(rate_limit, name) if rate_limit is not None else None)
        self.name = name
        self.queue = queue
        queue_rate = queue.settings.parsed_rate_limit
        self._rates: str = ((self.rate_limit.wire() if self.rate_limit is not None else "")
                            + (f";{queue_rate.wire()}" if queue_rate is not None else ""))
        """The rates part of ``When.limits``: the task's, then ``;`` and its queue's."""
        limits = self._limits(None)
        self._when = When(priority=priority, limits=limits) if priority or limits else NOW
        self.timeout = timeout
        self.result_ttl = result_ttl
        self.retry = retry
        self.is_async = is_async
        self.codec: TaskCodec = TaskCodec(name, fn)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def call(self, *args: P.args, **kwargs: P.kwargs) -> Call[R]:
        """Validate and encode a call without any Redis I/O."""
        return self._call("call", args, kwargs)

    async def delay(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]:
        """Enqueue a call and return its job handle as soon as the job is in Redis.

        Raises ``TaskArgumentError`` (a ``TypeError``) or ``PayloadTooLarge`` before any I/O.
        """
        return await self._delay("delay", args, kwargs)

    def delay_sync(self, *args: P.args, **kwargs: P.kwargs) -> SyncJob[R]:
        """Enqueue a call from code with no event loop (a WSGI view, a script, a thread) and
        return its blocking handle; otherwise as ``delay``. Inside a running event loop it
        raises ``BlockingCallError``: use ``await task.delay(...)`` there."""
        refuse_in_event_loop(f"{self.name}.delay_sync", f"{self.name}.delay")
        return self._delay_sync("delay_sync", args, kwargs)

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
              job_id: str | None = None, when: When | None = None,
              relative: Relative | None = None) -> Call[R]:
        """``call``: with a tracer, in a ``create`` span whose context the job carries."""
        tracer = tracing.tracer()
        if tracer is None:
            return self._make_call(method, args, kwargs, job_id, when, relative)
        with tracing.producing(tracer, "create", self.queue.name, self.name) as span:
            call = self._make_call(method, args, kwargs, job_id, when, relative,
                                   tracing.carrier(span))
            tracing.identify(span, call.job_id)
            return call

    async def _delay(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                     job_id: str | None = None, when: When | None = None,
                     relative: Relative | None = None) -> Job[R]:
        """``delay``: with a tracer, in a ``send`` span whose context the job carries."""
        tracer = tracing.tracer()
        if tracer is None:
            return await self.queue.enqueue(
                self._make_call(method, args, kwargs, job_id, when, relative))
        with tracing.producing(tracer, "send", self.queue.name, self.name) as span:
            job = await self.queue.enqueue(self._make_call(
                method, args, kwargs, job_id, when, relative, tracing.carrier(span)))
            tracing.identify(span, job.id)
            return job

    def _delay_sync(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                    job_id: str | None = None, when: When | None = None,
                    relative: Relative | None = None) -> SyncJob[R]:
        """``delay_sync``: as ``_delay``."""
        tracer = tracing.tracer()
        if tracer is None:
            return self.queue.enqueue_sync(
                self._make_call(method, args, kwargs, job_id, when, relative))
        with tracing.producing(tracer, "send", self.queue.name, self.name) as span:
            job = self.queue.enqueue_sync(self._make_call(
                method, args, kwargs, job_id, when, relative, tracing.carrier(span)))
            tracing.identify(span, job.id)
            return job

    def options(
        self,
        *,
        job_id: str | None = None,
        delay: float | timedelta | None = None,
        at: datetime | None = None,
        priority: int | None = None,
        expires: float | timedelta | datetime | None = None,
        unique_key: str | None = None,
        unique: Unique | str | None = None,
        debounce: float | timedelta | None = None,
        concurrency_key: str | None = None,
        after: Sequence[Job[Any] | SyncJob[Any] | str] | None = None,
        on_dependency_failure: DependencyFailure | str = DependencyFailure.CANCEL,
    ) -> TaskOptions[P, R]:
        """The same task with options for one enqueue:

        - ``job_id``: your own id; enqueueing an id that exists is a no-op returning its handle,
          so a caller can retry safely;
        - ``delay`` (seconds or a timedelta) or ``at`` (a timezone-aware datetime): run later;
        - ``priority``: 0..9, higher starts first (default: the task's);
        - ``expires`` (seconds or a timedelta from now, or an aware datetime): a job not started
          by then never runs; it ends as expired;
        - ``unique_key``: while a job with this key is in its ``unique`` window
          (``"while_queued"``, ``"while_active"``, ``"until_result_expires"``), enqueueing
          another writes nothing and returns that job's handle;
        - ``debounce`` (seconds or a timedelta, with ``unique_key``): the job starts that long
          after the last enqueue with its key; each later enqueue before it starts replaces its
          arguments and moves its start back, and gets the same handle;
        - ``concurrency_key``: the key whose jobs of this task run at most ``key_concurrency``
          at once (the task's);
        - ``after``: jobs (handles, of any queue on the same server, or ids of this queue's
          jobs) that must complete first: the job waits (state ``waiting``) and joins the queue
          in the step that stores the last one's outcome. If one ends otherwise (failed, dead,
          cancelled, expired), the job is cancelled (``DependencyFailed``), or runs anyway with
          ``on_dependency_failure="run"``. Every job named must exist (``JobNotFound``).
        """
        if sum(x is not None for x in (delay, at, debounce)) > 1:
            raise ConfigError("give one of delay, at and debounce")
        held = _unique(self.name, unique_key, unique, debounce)
        if debounce is not None:
            delay = debounce
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
        when = When(due, priority, expires_at, held, debounce is not None,
                    self._limits(concurrency_key))
        if after is not None:
            when = self._after(when, after, on_dependency_failure)
        # relative times count from each call, not from this one
        relative = (delay is not None, expires is not None and not isinstance(expires, datetime))
        return TaskOptions(self, job_id, NOW if when == NOW else when,
                           Relative(now, *relative) if any(relative) else None)

    def _after(
        self, when: When, after: Sequence[Job[Any] | SyncJob[Any] | str],
        on_failure: DependencyFailure | str,
    ) -> When:
        """``when`` of a job that waits for the jobs ``after`` names, checked."""
        if isinstance(after, str | bytes) or not after:
            raise ConfigError(f"{self.name}: after= takes a non-empty list of jobs or job ids")
        if when.due is not None or when.unique is not None:
            raise ConfigError(f"{self.name}: a job with after= starts when its dependencies "
                              "complete: it takes no delay, at, unique_key or debounce")
        try:
            policy = DependencyFailure(on_failure)
        except ValueError:
            raise ConfigError(f"{self.name}: on_dependency_failure must be 'cancel' or 'run', "
                              f"not {on_failure!r}") from None
        named: dict[str, None] = {}
        for dependency in after:
            if isinstance(dependency, str):
                named[self.queue.dependency(check_job_id(dependency))] = None
            elif isinstance(dependency, Job | SyncJob):
                named[dependency.dependency] = None
            else:
                raise ConfigError(f"{self.name}: after= takes jobs or job ids, "
                                  f"not {type(dependency).__name__}")
        own = {f"{shard.keys.key_base} " for shard in self.queue.shard_queues}
        if self.queue.settings.on_cluster and any(d[:d.index(" ") + 1] not in own for d in named):
            raise ConfigError(f"{self.name}: on a Redis Cluster a job waits only for jobs of its "
                              "own queue (another queue's keys are in another slot)")
        return when._replace(after=tuple(named), on_dependency_failure=policy)

    def _limits(self, key: str | None) -> str | None:
        """``When.limits`` of a job of this task with concurrency key ``key``."""
        if key is not None:
            if self.key_concurrency is None:
                raise ConfigError(f"{self.name}: concurrency_key needs "
                                  "@queue.task(key_concurrency=...)")
            check_unique_key(key, "concurrency_key")
        if self.max_concurrency is None and key is None and not self._rates:
            return None
        return (f"{self.max_concurrency or ''},{self.key_concurrency if key else ''},"
                f"{self._rates},{key or ''}")

    def _make_call(
        self,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        job_id: str | None = None,
        when: When | None = None,
        relative: Relative | None = None,
        trace: dict[str, str] | None = None,
        *,
        piped: bool = False,
    ) -> Call[R]:
        """``relative``: which of ``when``'s times were given relative to the time they were
        counted from: they are moved to count from now. ``trace``: the trace context the job
        carries (``asyncjobs.tracing``). ``piped``: a pipeline step's call, without its first
        argument."""
        encoded_args = self.codec.encode_args(method, args, kwargs, piped=piped)
        job_id = job_id or self.queue.new_job_id(when or self._when)
        now = time.time()
        if when is not None and relative is not None:
            when = relative.moved(when, now)
        envelope = Envelope(job_id, self.name, msgspec.Raw(encoded_args), now, trace)
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

    __slots__ = ("_job_id", "_relative", "_task", "_when")

    def __init__(
        self, task: Task[P, R], job_id: str | None, when: When, relative: Relative | None
    ) -> None:
        self._task = task
        self._job_id = job_id
        self._when = when
        self._relative = relative

    def call(self, *args: P.args, **kwargs: P.kwargs) -> Call[R]:
        return self._task._call("call", args, kwargs, self._job_id, self._when, self._relative)

    async def delay(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]:
        return await self._task._delay("delay", args, kwargs, self._job_id, self._when,
                                       self._relative)

    def delay_sync(self, *args: P.args, **kwargs: P.kwargs) -> SyncJob[R]:
        name = self._task.name
        refuse_in_event_loop(f"{name}.options(...).delay_sync", f"{name}.options(...).delay")
        return self._task._delay_sync("delay_sync", args, kwargs, self._job_id, self._when,
                                      self._relative)


class Relative(NamedTuple):
    """Which times of a ``When`` were given relative to ``since`` (a delay, an expiry in
    seconds): each call counts them from its own time."""

    since: float
    due: bool
    expires_at: bool

    def moved(self, when: When, now: float) -> When:
        by = now - self.since
        return when._replace(
            due=when.due + by if self.due and when.due is not None else when.due,
            expires_at=when.expires_at + by if self.expires_at and when.expires_at is not None
            else when.expires_at,
        )


def _check_limit(task: str, name: str, limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"{task}: {name} must be a positive int, got {limit!r}")
    return limit


def check_priority(priority: int) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
        raise ConfigError(f"priority must be an int from 0 to {MAX_PRIORITY}, got {priority!r}")
    return priority


def _unique(
    task: str, key: str | None, window: Unique | str | None, debounce: float | timedelta | None
) -> str | None:
    """The unique key a call's job holds (``When.unique``), checked."""
    if key is None:
        if debounce is not None:
            raise ConfigError(f"{task}: debounce needs a unique_key")
        if window is not None:
            raise ConfigError(f"{task}: unique= needs a unique_key")
        return None
    try:
        checked = Unique(window or Unique.WHILE_ACTIVE)
    except ValueError:
        raise ConfigError(f"{task}: unique must be one of "
                          f"{', '.join(w.value for w in Unique)}, not {window!r}") from None
    if debounce is not None:
        seconds = debounce.total_seconds() if isinstance(debounce, timedelta) else float(debounce)
        if seconds <= 0:
            raise ConfigError(f"{task}: debounce must be positive")
        if window is not None and checked is not Unique.WHILE_QUEUED:
            raise ConfigError(f"{task}: a debounced job holds its key while it waits to start: "
                              f"unique={checked.value!r} does not go with debounce")
        checked = Unique.WHILE_QUEUED  # a later call replaces the job until it starts
    return encode_unique(checked, key)


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
