"""The Queue: task registry, lifecycle hooks, enqueueing, and reading results by id."""

from __future__ import annotations

import asyncio
import inspect
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast, overload

import msgspec
import redis.asyncio as aredis
from redis.exceptions import ResponseError

from . import tracing
from .blocking import BlockingProducer, refuse_in_event_loop
from .config import Settings
from .connection import UNREACHABLE, Connection, confirm_commands
from .context import Context, Middleware
from .errors import ConfigError, EnqueueError, ResultTimeout, TaskArgumentError, check_replicas
from .events import Event, Since, follow, merged
from .ids import new_job_id
from .inspector import Inspector, QueueCounts, sum_counts
from .job import Job, JobInfo, LogLine, SyncJob, outcome_from_reads, queue_outcome_reads, unwrap_outcome
from .limits import RateLimit
from .protocol import (
    ANY_DECODER,
    ENCODER,
    ENVELOPE_DECODER,
    SCHEDULE_DECODER,
    Control,
    DeadLetter,
    Outcome,
    Piped,
    QueueKeys,
    ScheduleSpec,
    When,
    check_job_id,
    check_schedule_name,
    decode_notice_body,
    decode_schedule_state,
    job_shard,
)
from .redact import redact_url
from .schedule import DEFAULT_MISFIRE_GRACE, ScheduleInfo, describe, make_spec
from .scripts import Scripts, enqueued, refusal
from .shards import (
    check_shards,
    check_task_limits,
    enqueue_sharded,
    enqueue_sharded_sync,
    home_shard,
    register,
    register_sync,
    shard_for,
)
from .task import (
    AsyncTask,
    Batch,
    Call,
    Pipeline,
    RetryPolicy,
    SyncTask,
    Task,
    check_priority,
    default_task_name,
    enqueue_batches,
    unique_holders,
)
from .waiter import ResultWaiter, WaitHint

P = ParamSpec("P")
R = TypeVar("R")
R2 = TypeVar("R2")

_NOT_TAKEN: tuple[type[Exception], ...] = (*UNREACHABLE, TimeoutError)
"""Errors after which an enqueue may not have happened: ``EnqueueError``."""
Hook = Callable[[dict[str, Any]], Awaitable[None]]
HookT = TypeVar("HookT", bound=Hook)
MiddlewareT = TypeVar("MiddlewareT", bound=Middleware)


class TaskDecorator(Protocol):
    """What ``@queue.task(...)`` with options returns."""

    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: Callable[Concatenate[Context, P], Coroutine[Any, Any, R]], /
    ) -> AsyncTask[P, R]: ...
    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: Callable[P, Coroutine[Any, Any, R]], /
    ) -> AsyncTask[P, R]: ...
    @overload
    def __call__(self, fn: Callable[Concatenate[Context, P], R], /) -> SyncTask[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> SyncTask[P, R]: ...


class _Producer:
    """A queue's connection, scripts and result waiter in one event loop."""

    def __init__(self, queue: Queue) -> None:
        self.loop: asyncio.AbstractEventLoop = asyncio.get_running_loop()
        settings = queue.settings
        self.conn: Connection = Connection(settings.redis_url, socket_timeout=settings.socket_timeout)
        self.redis: aredis.Redis = self.conn.redis
        self.scripts: Scripts = Scripts(self.conn, queue.keys, queue.settings)
        self.waiter: ResultWaiter = ResultWaiter(self.conn.listen, queue.keys.done)
        self.registered = False  # in the registry of queues (protocol.REGISTRY)

    async def aclose(self) -> None:
        await self.waiter.aclose()
        await self.conn.aclose()


class Queue:
    """A named queue of jobs in Redis.

    ``redis_url`` defaults to ``$ASYNCJOBS_REDIS_URL``, else ``redis://localhost:6379/0``.
    """

    def __init__(
        self, name: str, redis_url: str | None = None, *, settings: Settings | None = None,
        shards: int = 1,
    ) -> None:
        """``shards``: spread the queue over that many hash slots (so over a Redis Cluster's
        masters); see ``docs/scaling.md`` for what holds per shard."""
        self.keys: QueueKeys = QueueKeys(name)
        self.name = name
        settings = settings or Settings()
        self.settings: Settings = replace(settings, redis_url=redis_url) if redis_url else settings
        self.shards: int = check_shards(name, shards, self.settings)
        self.origin: Queue = self
        """The queue as its users made it (a shard's is the sharded queue)."""
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self.middlewares: list[Middleware] = []
        """Wrap every run of this queue's tasks, the first registered outermost."""
        self.cron_schedules: dict[str, ScheduleSpec] = {}
        """Schedules declared with ``@queue.cron``, by name; every worker runs them."""
        self._conn: _Producer | None = None
        self._blocking_producer: BlockingProducer | None = None
        self.shard_queues: tuple[Queue, ...] = (self,)
        """The queues of its shards, in order; the queue itself when it has one."""
        if shards > 1:
            self.shard_queues = tuple(Queue._shard(self, index) for index in range(shards))
        self.inspect: Inspector = Inspector(self)
        """The read and admin side: counts, jobs by state, one job, workers, dead letters."""

    @staticmethod
    def _shard(origin: Queue, index: int) -> Queue:
        """Shard ``index`` of ``origin``: a queue of its own keys, sharing the origin's
        settings, tasks and middlewares (and, for shard 0, its ``@queue.cron`` schedules)."""
        shard = Queue(origin.name, settings=origin.settings)
        shard.keys = QueueKeys(origin.name, shard=(index, origin.shards))
        shard.name = shard.keys.name
        shard.origin = origin
        shard.tasks = origin.tasks
        shard.middlewares = origin.middlewares
        if index == 0:
            shard.cron_schedules = origin.cron_schedules
        shard.inspect = Inspector(shard)
        return shard

    def shard_of(self, job_id: str) -> Queue:
        """The queue of the shard that holds job ``job_id`` (the queue itself when unsharded)."""
        if self.shards == 1:
            return self
        return self.shard_queues[job_shard(job_id, self.shards)]

    def dependency(self, job_id: str) -> str:
        """How a job that waits for job ``job_id`` of this queue names it (``after=``)."""
        return f"{self.shard_of(job_id).keys.key_base} {job_id}"

    def new_job_id(self, when: When) -> str:
        """A new id for a job enqueued with ``when``: on a sharded queue, one of the shard that
        its unique or concurrency key (or, on one of its shards, its first dependency) is in."""
        if self.shards == 1:
            return new_job_id()
        shard, _ = home_shard(self, when)
        job_id = new_job_id()
        while shard is not None and job_shard(job_id, self.shards) != shard:
            job_id = new_job_id()
        return job_id

    def __repr__(self) -> str:
        return f"Queue({self.name!r}, redis_url={redact_url(self.settings.redis_url)!r})"

    @property
    def max_payload_bytes(self) -> int:
        return self.settings.max_payload_bytes

    # -- registration -------------------------------------------------------------------------

    @overload
    def task(  # type: ignore[overload-overlap]
        self, fn: Callable[Concatenate[Context, P], Coroutine[Any, Any, R]], /
    ) -> AsyncTask[P, R]: ...
    @overload
    def task(  # type: ignore[overload-overlap]
        self, fn: Callable[P, Coroutine[Any, Any, R]], /
    ) -> AsyncTask[P, R]: ...
    @overload
    def task(self, fn: Callable[Concatenate[Context, P], R], /) -> SyncTask[P, R]: ...
    @overload
    def task(self, fn: Callable[P, R], /) -> SyncTask[P, R]: ...
    @overload
    def task(
        self,
        *,
        name: str | None = None,
        timeout: float | None = None,
        result_ttl: float | None = None,
        retries: int = 0,
        retry_backoff: float = 1.0,
        retry_backoff_max: float = 300.0,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        priority: int = 0,
        max_concurrency: int | None = None,
        key_concurrency: int | None = None,
        rate_limit: RateLimit | str | None = None,
    ) -> TaskDecorator: ...

    def task(  # type: ignore[misc]  # mypy misreads the keyword-only overload
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        timeout: float | None = None,
        result_ttl: float | None = None,
        retries: int = 0,
        retry_backoff: float = 1.0,
        retry_backoff_max: float = 300.0,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        priority: int = 0,
        max_concurrency: int | None = None,
        key_concurrency: int | None = None,
        rate_limit: RateLimit | str | None = None,
    ) -> Any:
        """Register a function as a task: ``@queue.task`` or ``@queue.task(name=..., timeout=...)``.

        ``name`` defaults to ``module.qualname`` (the module's import name, also under
        ``python -m``; a script run by path needs ``name``); ``timeout`` (seconds) cancels a run that
        takes longer; ``result_ttl`` overrides how long the outcome is kept. A failure (an
        exception that is an instance of one in ``retry_on``, or a timeout) is retried up to
        ``retries`` times, after a random wait of up to ``retry_backoff * 2**(attempt-1)``
        seconds (capped at ``retry_backoff_max``); ``raise Retry(delay=...)`` asks for one.
        ``priority`` (0..9, higher starts first) is the default of its jobs.
        ``max_concurrency`` caps how many of its jobs run at once across every worker, and
        ``key_concurrency`` how many of those with one ``options(concurrency_key=...)``;
        ``rate_limit`` (``"100/s"``, ``"5/m"``, ``RateLimit(...)``) how many start per period.
        """
        check_priority(priority)
        policy = RetryPolicy(
            retries=retries, backoff=retry_backoff, backoff_max=retry_backoff_max, on=retry_on
        )

        def register(fn: Callable[..., Any]) -> Task[Any, Any]:
            task_name = name or default_task_name(fn)
            if task_name in self.tasks:
                raise ConfigError(f"queue {self.name!r} already has a task named {task_name!r}")
            if timeout is not None and timeout <= 0:
                raise ConfigError(f"task {task_name}: timeout must be positive")
            check_task_limits(self, task_name, max_concurrency, rate_limit)
            is_async = inspect.iscoroutinefunction(fn)
            kind: type[Task[Any, Any]] = AsyncTask if is_async else SyncTask
            task = kind(
                fn, name=task_name, queue=self, timeout=timeout, result_ttl=result_ttl,
                retry=policy, is_async=is_async, priority=priority,
                max_concurrency=max_concurrency, key_concurrency=key_concurrency,
                rate_limit=rate_limit,
            )
            self.tasks[task_name] = task
            return task

        return register if fn is None else register(fn)

    def cron(
        self,
        expression: str | None = None,
        /,
        *,
        every: timedelta | float | None = None,
        tz: str = "UTC",
        name: str | None = None,
        misfire_grace: float | timedelta = DEFAULT_MISFIRE_GRACE,
        skip_if_running: bool = True,
        task_name: str | None = None,
        timeout: float | None = None,
        result_ttl: float | None = None,
        retries: int = 0,
        priority: int = 0,
    ) -> TaskDecorator:
        """Register a function as a task that every worker enqueues on a schedule:
        ``@queue.cron("*/5 * * * *", tz="Europe/Paris")`` (a 5-field cron expression read in
        ``tz``) or ``@queue.cron(every=timedelta(seconds=30))`` (slots at the multiples of the
        interval since the Unix epoch). The function stays a normal task (``.delay()`` works);
        it may take a leading ``ctx: Context`` and parameters with defaults, nothing else.

        ``name`` is the schedule's name (default: the task's name, ``task_name`` or
        ``module.qualname``). Each slot is enqueued once across all workers, as job
        ``cron:<name>:<slot>``. A slot missed while no worker ran still runs when at most
        ``misfire_grace`` seconds late (only the latest missed one); with ``skip_if_running``,
        a slot is skipped while the previous run is queued or running. ``timeout``,
        ``result_ttl``, ``retries`` and ``priority`` are the task's, as in ``@queue.task``.
        """
        check = make_spec("check" if name is None else name, task="", args=b"", cron=expression,
                          every=every, tz=tz, misfire_grace=misfire_grace,
                          skip_if_running=skip_if_running, from_code=True, created_at=0.0)

        def register(fn: Callable[..., Any]) -> Task[Any, Any]:
            task: Task[Any, Any] = self.task(name=task_name, timeout=timeout,
                                             result_ttl=result_ttl, retries=retries,
                                             priority=priority)(fn)
            try:
                spec = self._cron_spec(check, name, task)
            except ConfigError:
                del self.tasks[task.name]
                raise
            self.cron_schedules[spec.name] = spec
            return task

        return cast("TaskDecorator", register)

    def _cron_spec(self, check: ScheduleSpec, name: str | None, task: Task[Any, Any]) -> ScheduleSpec:
        if name is None:
            try:
                check_schedule_name(task.name)
            except ConfigError as exc:
                raise ConfigError(f"{exc}: give @queue.cron(..., name=...)") from None
        schedule_name = name or task.name
        if schedule_name in self.cron_schedules:
            raise ConfigError(f"queue {self.name!r} already has a schedule named {schedule_name!r}")
        try:
            args = task.codec.encode_args("cron", (), {})
        except TaskArgumentError as exc:
            raise ConfigError(
                f"cron task {task.name} takes arguments the schedule cannot give ({exc}); a cron "
                "task may take a leading ctx: Context and parameters with defaults; for "
                "arguments, use queue.schedule(name, task.call(...), ...)"
            ) from None
        return msgspec.structs.replace(check, name=schedule_name, task=task.name, args=args,
                                       created_at=time.time(), priority=task.priority)

    def on_startup(self, hook: HookT) -> HookT:
        """Run ``await hook(state)`` when a worker starts; ``state`` reaches tasks as ``ctx.state``."""
        self.startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: HookT) -> HookT:
        """Run ``await hook(state)`` when a worker stops."""
        self.shutdown_hooks.append(hook)
        return hook

    def middleware(self, mw: MiddlewareT) -> MiddlewareT:
        """Wrap every run of this queue's tasks in a worker: ``async def mw(ctx, call_next)``
        gets the job's ``Context`` and returns ``await call_next()`` (the task's value; it
        raises what the task raised). Middlewares nest in the order registered, the first
        outermost. An exception raised by a middleware fails the attempt like the task's own."""
        is_async: bool = inspect.iscoroutinefunction(mw)  # not a guard: mw keeps its own type
        if not is_async:
            raise ConfigError(f"middleware {getattr(mw, '__qualname__', mw)!r} must be an "
                              "async def (ctx, call_next)")
        self.middlewares.append(mw)
        return mw

    # -- connection ---------------------------------------------------------------------------

    def connection(self) -> _Producer:
        """This event loop's clients, made on first use."""
        loop = asyncio.get_running_loop()
        if self._conn is None or self._conn.loop is not loop:
            self._conn = _Producer(self)
        return self._conn

    @property
    def redis(self) -> aredis.Redis:
        return self.connection().redis

    async def aclose(self) -> None:
        """Close this process's connections of the queue."""
        if self.shards > 1:
            for shard in self.shard_queues:
                await shard.aclose()
        if self._conn is not None and self._conn.loop is asyncio.get_running_loop():
            await self._conn.aclose()
        self._conn = None

    # -- producing ----------------------------------------------------------------------------

    async def enqueue(self, call: Call[R] | Pipeline[R]) -> Job[R]:
        """Enqueue one call made with ``task.call(...)`` (what ``task.delay`` does), or a
        pipeline (``task.call(...).then(...)``); returns its handle (a pipeline's: its last
        step's). Raises ``EnqueueError`` if Redis does not take it within ``enqueue_timeout``."""
        if isinstance(call, Pipeline):
            for step in call.calls:
                if self.tasks.get(step.task) is None:
                    raise ConfigError(f"queue {self.name!r} has no task {step.task!r}: a "
                                      "pipeline is enqueued in the queue of its tasks")
            jobs = await self.enqueue_many(call.calls)
            return cast("Job[R]", jobs[-1])
        if self.shards > 1:
            return await shard_for(self, call).enqueue(call)
        conn = self.connection()
        hint = conn.waiter.hint()
        try:
            async with asyncio.timeout(self.settings.enqueue_timeout):
                if not conn.registered:
                    await self._register(conn)
                if self.settings.enqueue_replicas:
                    [[fresh]] = await self._enqueue_confirmed(
                        conn, [(call.when, [call])], call.enqueued_at)
                else:
                    [fresh] = await conn.scripts.enqueue([call.payload], call.enqueued_at,
                                                         call.when)
        except _NOT_TAKEN as exc:
            raise self._enqueue_error(exc) from exc
        except ResponseError as exc:
            raise refusal(exc) from None
        if isinstance(fresh, str):  # the job that holds the call's unique key
            return Job(fresh, call.task, self, call.decoder)
        # a job whose id was taken may have finished long ago: its waiter must check the store
        return Job(call.job_id, call.task, self, call.decoder, hint if fresh else None)

    async def enqueue_group(self, calls: Sequence[Call[R]], *, then: Task[[list[R]], R2]) -> Job[R2]:
        """Enqueue ``calls`` (of this queue's tasks) and a callback job of task ``then``, run
        once after every one of them completed, given the list of their values in order;
        returns the callback's handle. If one of them ends otherwise, the callback is
        cancelled (``DependencyFailed``)."""
        if not calls:
            raise ConfigError("enqueue_group needs at least one call")
        for name in (*(call.task for call in calls), then.name):
            if self.tasks.get(name) is None:
                raise ConfigError(f"queue {self.name!r} has no task {name!r}: a group is "
                                  "enqueued in the queue of its tasks")
        if len({call.job_id for call in calls}) != len(calls):
            raise ConfigError("enqueue_group: two calls of the group have the same job id")
        when = then._when._replace(after=tuple(self.dependency(call.job_id) for call in calls),
                                   piped=Piped.GATHER)
        callback = then._make_call("enqueue_group", (), {}, when=when, piped=True)
        jobs = await self.enqueue_many([*calls, callback])
        return cast("Job[R2]", jobs[-1])

    async def gather(self, jobs: Sequence[Job[R]], timeout: float | None = None) -> list[R]:
        """The values of ``jobs`` in order, once all have finished; raises the first failure
        (``JobFailed`` and its kin), or ``ResultTimeout`` after ``timeout`` seconds."""
        waits = [asyncio.ensure_future(job.result()) for job in jobs]
        try:
            async with asyncio.timeout(timeout):
                return list(await asyncio.gather(*waits))
        except TimeoutError:
            raise ResultTimeout(f"{len(jobs)} jobs did not all finish within {timeout} s") from None
        finally:
            for wait in waits:  # after a failure, the others are not waited for
                wait.cancel()

    async def enqueue_many(self, calls: Sequence[Call[R]]) -> list[Job[R]]:
        """Enqueue calls made with ``task.call(...)`` in one round trip; returns their handles.

        Raises ``EnqueueError`` if Redis does not take them within ``enqueue_timeout``.
        """
        if not calls:
            return []
        if self.shards > 1:
            return await enqueue_sharded(self, calls)
        tracer = tracing.tracer()
        if tracer is None:
            return await self._enqueue_many(calls)
        with tracing.producing(tracer, "send", self.name, count=len(calls)):
            return await self._enqueue_many(calls)

    async def _enqueue_many(self, calls: Sequence[Call[R]]) -> list[Job[R]]:
        conn = self.connection()
        try:
            async with asyncio.timeout(self.settings.enqueue_timeout):
                if not conn.registered:
                    await self._register(conn)
                at = calls[0].enqueued_at
                batches = enqueue_batches(calls)
                if self.settings.enqueue_replicas:
                    replies = await self._enqueue_confirmed(conn, batches, at)
                elif len(batches) == 1 or conn.conn.cluster:  # no scripts in a cluster pipeline
                    replies = [await conn.scripts.enqueue([c.payload for c in batch], at, when)
                               for when, batch in batches]
                else:
                    async with conn.redis.pipeline(transaction=False) as pipe:
                        for when, batch in batches:
                            await conn.scripts.enqueue_in(pipe, [c.payload for c in batch], at,
                                                          when)
                        replies = [enqueued(reply) for reply in await pipe.execute()]
        except _NOT_TAKEN as exc:
            raise self._enqueue_error(exc) from exc
        except ResponseError as exc:
            raise refusal(exc) from None
        ids = unique_holders(batches, replies)
        return [Job(ids.get(call.job_id, call.job_id), call.task, self, call.decoder)
                for call in calls]

    # -- producing without an event loop ------------------------------------------------------

    def _blocking(self, method: str, instead: str) -> BlockingProducer:
        refuse_in_event_loop(method, instead)
        producer = self._blocking_producer
        if producer is None:  # two threads may both make one: the first one set is kept
            made = BlockingProducer(self.keys, self.settings,
                                    register=lambda client: register_sync(client, self.origin))
            producer = self._blocking_producer = self._blocking_producer or made
        return producer

    def enqueue_sync(self, call: Call[R]) -> SyncJob[R]:
        """``enqueue`` for code with no event loop (any thread, also after a fork): blocks until
        the job is in Redis and returns its blocking handle. Raises ``EnqueueError`` as
        ``enqueue`` does, and ``BlockingCallError`` inside a running event loop."""
        if self.shards > 1:
            refuse_in_event_loop("queue.enqueue_sync", "queue.enqueue")
            return shard_for(self, call).enqueue_sync(call)
        [[fresh]] = self._blocking("queue.enqueue_sync", "queue.enqueue").enqueue(
            [(call.when, [call])], call.enqueued_at)
        job_id = fresh if isinstance(fresh, str) else call.job_id  # the unique key's holder
        return SyncJob(job_id, call.task, self, call.decoder)

    def enqueue_many_sync(self, calls: Sequence[Call[R]]) -> list[SyncJob[R]]:
        """``enqueue_many`` for code with no event loop: one round trip for all the calls."""
        if self.shards > 1:
            refuse_in_event_loop("queue.enqueue_many_sync", "queue.enqueue_many")
            return enqueue_sharded_sync(self, calls)
        producer = self._blocking("queue.enqueue_many_sync", "queue.enqueue_many")
        if not calls:
            return []
        tracer = tracing.tracer()
        if tracer is None:
            return self._enqueue_many_sync(producer, calls)
        with tracing.producing(tracer, "send", self.name, count=len(calls)):
            return self._enqueue_many_sync(producer, calls)

    def _enqueue_many_sync(self, producer: BlockingProducer,
                           calls: Sequence[Call[R]]) -> list[SyncJob[R]]:
        batches = enqueue_batches(calls)
        ids = unique_holders(batches, producer.enqueue(batches, calls[0].enqueued_at))
        return [SyncJob(ids.get(call.job_id, call.job_id), call.task, self, call.decoder)
                for call in calls]

    def result_sync(self, job_id: str, timeout: float | None = None) -> Any:
        """``result`` for code with no event loop: blocks until the job has finished."""
        task_name, outcome = self._wait_sync(job_id, timeout, "queue.result_sync", "queue.result")
        task = self.tasks.get(task_name)
        decoder = task.codec.result_decoder if task is not None else ANY_DECODER
        return unwrap_outcome(job_id, outcome, decoder)

    def _wait_sync(
        self, job_id: str, timeout: float | None, method: str = "job.result", instead: str = "job.result"
    ) -> tuple[str, Outcome]:
        check_job_id(job_id)
        return self.shard_of(job_id)._blocking(method, instead).wait(job_id, timeout)

    def job_sync(self, job_id: str) -> JobInfo | None:
        """``inspect.job`` for code with no event loop: the job's record now, or None."""
        check_job_id(job_id)
        return self.shard_of(job_id)._blocking("queue.job_sync", "queue.inspect.job").job(job_id)

    def counts_sync(self) -> QueueCounts:
        """``inspect.counts`` for code with no event loop: how many jobs are in each state now."""
        return sum_counts([shard._blocking("queue.counts_sync", "queue.inspect.counts").counts()
                           for shard in self.shard_queues])

    def cancel_sync(self, job_id: str) -> bool:
        """``cancel`` for code with no event loop."""
        check_job_id(job_id)
        return self.shard_of(job_id)._blocking("queue.cancel_sync", "queue.cancel").cancel(job_id)

    def close_sync(self) -> None:
        """Close this process's blocking connections of the queue (the ``*_sync`` calls open
        them again when next used)."""
        for shard in self.shard_queues:
            if shard._blocking_producer is not None:
                shard._blocking_producer.close()

    async def _register(self, conn: _Producer) -> None:
        """Add this queue to the registry of queues, and check its shards against the layout
        its jobs are in, once per process and event loop."""
        await register(conn.redis, self.origin)
        conn.registered = True

    async def _enqueue_confirmed(
        self, conn: _Producer, batches: Sequence[Batch], at: float
    ) -> list[list[bool | str]]:
        """Enqueue ``batches`` and return once ``enqueue_replicas`` replicas have them. On one
        server, the scripts, the no-op write and WAIT go in one pipeline, on one connection (a
        pipeline sent again after a lost connection sends the idempotent enqueue again too); on
        a cluster, WAIT follows on the master that served the queue's slot before the scripts,
        if it still does."""
        wanted, timeout = self.settings.enqueue_replicas, self.settings.replica_timeout
        if not conn.conn.cluster:
            async with conn.redis.pipeline(transaction=False) as pipe:
                for when, batch in batches:
                    await conn.scripts.enqueue_in(pipe, [c.payload for c in batch], at, when)
                for command in confirm_commands(self.keys.seq, wanted, timeout):
                    pipe.execute_command(*command)
                *replies, _, confirmed = await pipe.execute()
            check_replicas(self.name, wanted, timeout, int(confirmed))
            return [enqueued(reply) for reply in replies]
        master = await conn.conn.master_of(self.keys.seq)
        done = [await conn.scripts.enqueue([c.payload for c in batch], at, when)
                for when, batch in batches]
        check_replicas(self.name, wanted, timeout,
                       await conn.conn.replicated(self.keys.seq, wanted, timeout, master))
        return done

    def _enqueue_error(self, exc: BaseException) -> EnqueueError:
        if isinstance(exc, TimeoutError) and not str(exc):  # asyncio.timeout's, which says nothing
            why = f"no reply within {self.settings.enqueue_timeout} s (enqueue_timeout)"
        else:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return EnqueueError(f"queue {self.name!r}: Redis did not take the job(s): {why}")

    # -- control ------------------------------------------------------------------------------

    async def cancel(self, job_id: str) -> bool:
        """Cancel a job that has not finished: a waiting job never starts, a running one is
        stopped on its worker (an ``async`` task at once, through its cancel scope; a sync
        task's thread cannot be stopped, so its result is dropped when it returns). Its status
        becomes ``cancelled`` and its waiters get ``JobCancelled``; it is never retried or
        recovered. True when the job is cancelled (now or before), False when it had finished
        otherwise or is unknown (then nothing changes)."""
        check_job_id(job_id)
        return await self.shard_of(job_id).connection().scripts.cancel(job_id)

    async def pause(self) -> None:
        """Start no new job of this queue until ``resume()``: enqueues are still taken, running
        jobs finish. The pause is kept in Redis, so it survives worker restarts."""
        for shard in self.shard_queues:
            await shard._set_paused(True)

    async def resume(self) -> None:
        """Start jobs again after ``pause()``; workers pick them up at once."""
        for shard in self.shard_queues:
            await shard._set_paused(False)

    async def _set_paused(self, paused: bool) -> None:
        conn = self.connection()
        async with self.redis.pipeline(transaction=True) as pipe:
            if paused:
                pipe.set(self.keys.paused, 1)
            else:
                pipe.delete(self.keys.paused)
            message = Control.PAUSE if paused else Control.RESUME
            await conn.conn.publish(self.keys.control, message.value, pipe)
            await pipe.execute()

    async def is_paused(self) -> bool:
        return any([bool(await shard.redis.exists(shard.keys.paused))
                    for shard in self.shard_queues])

    # -- schedules ----------------------------------------------------------------------------

    async def schedule(
        self,
        name: str,
        call: Call[Any],
        *,
        cron: str | None = None,
        every: timedelta | float | None = None,
        tz: str = "UTC",
        misfire_grace: float | timedelta = DEFAULT_MISFIRE_GRACE,
        skip_if_running: bool = True,
    ) -> ScheduleInfo:
        """Store a schedule in Redis that every worker runs: ``call`` (made with
        ``task.call(...)``) is enqueued at each slot of ``cron`` (in ``tz``) or ``every``, as in
        ``@queue.cron``. A schedule with this name is replaced (slots it already handled are
        not run again). Raises ``ConfigError`` before writing anything when the schedule is
        invalid."""
        if call.when.due is not None or call.when.expires_at is not None:
            raise ConfigError(f"schedule {name!r}: the call must not have its own delay, at or "
                              "expires")
        envelope = ENVELOPE_DECODER.decode(call.payload)
        spec = make_spec(name, task=envelope.task, args=bytes(envelope.args), cron=cron,
                         every=every, tz=tz, misfire_grace=misfire_grace,
                         skip_if_running=skip_if_running, from_code=False, created_at=time.time())
        spec = msgspec.structs.replace(spec, priority=call.when.priority)
        home = self.shard_queues[0]
        await home.redis.hset(home.keys.schedules, name, ENCODER.encode(spec))
        return describe(spec, None, time.time())

    async def unschedule(self, name: str) -> bool:
        """Remove a schedule and its state; False when there was none. A ``@queue.cron``
        schedule belongs to the code: running workers that declare it write it back at once,
        so remove it from the code; ``unschedule`` then clears what is left of it."""
        home = self.shard_queues[0]
        return await home.connection().scripts.unschedule(check_schedule_name(name))

    async def schedules(self) -> list[ScheduleInfo]:
        """Every schedule of the queue, by name: those stored in Redis (added with
        ``schedule()``, or written by workers for their ``@queue.cron`` ones), and this
        process's ``@queue.cron`` ones that no worker has written yet."""
        home = self.shard_queues[0]
        async with home.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(home.keys.schedules)
            pipe.hgetall(home.keys.schedule_state)
            stored, states = await pipe.execute()
        specs = {spec.name: spec for spec in self.cron_schedules.values()}
        for raw in stored.values():
            spec = SCHEDULE_DECODER.decode(raw)
            specs[spec.name] = spec
        now = time.time()
        return [describe(spec, decode_schedule_state(states.get(name.encode())), now)
                for name, spec in sorted(specs.items())]

    # -- reading ------------------------------------------------------------------------------

    async def _stored(self, job_id: str) -> tuple[str, Outcome] | None:
        """The task name and outcome of a finished job; None while it has none."""
        async with self.redis.pipeline(transaction=False) as pipe:
            queue_outcome_reads(pipe, self.keys, job_id)
            return outcome_from_reads(self.name, job_id, await pipe.execute())

    async def _wait(
        self, job_id: str, timeout: float | None, hint: WaitHint | None = None
    ) -> tuple[str, Outcome]:
        """The task name and outcome of a job, once it has finished."""
        check_job_id(job_id)
        if self.shards > 1:
            return await self.shard_of(job_id)._wait(job_id, timeout, hint)
        return await self.connection().waiter.wait(
            job_id, lambda: self._stored(job_id), decode_notice_body, timeout, hint
        )

    async def result(self, job_id: str, timeout: float | None = None) -> Any:
        """Wait for a job's value by id, from any process. Raises like ``Job.result``."""
        task_name, outcome = await self._wait(job_id, timeout)
        task = self.tasks.get(task_name)
        decoder = task.codec.result_decoder if task is not None else ANY_DECODER
        return unwrap_outcome(job_id, outcome, decoder)

    def events(self, *, job_id: str | None = None, since: Since = None) -> AsyncIterator[Event]:
        """Follow the queue's events (``Event``: enqueued, started, progress, retrying,
        completed, failed, dead, cancelled, expired), as they happen, for ever: ``async for
        event in queue.events(): ...``. ``job_id``: only that job's. ``since``: None for the
        events to come, an ``Event.position`` for those after it, a Unix time or an aware
        datetime for those from then on (as far back as the stream holds:
        ``Settings.events_max_len``). Every subscriber gets every event, in the same order.
        Needs ``Settings(events=True)`` (the default) where the jobs are enqueued and run.
        On a sharded queue, each shard has its stream: ``job_id`` follows its shard's, else the
        shards' events are merged (in order within a shard), and ``since`` takes no position."""
        if job_id is not None and self.shards > 1:
            return self.shard_of(check_job_id(job_id)).events(job_id=job_id, since=since)
        if self.shards > 1:
            if isinstance(since, str):
                raise ConfigError(f"queue {self.name!r} has {self.shards} shards, each with its "
                                  "own event positions: give since= a time")
            return merged([shard.events(since=since) for shard in self.shard_queues])
        return follow(self.redis, self.keys.events, job_id=job_id, since=since,
                      block=self.settings.block_timeout)

    async def job_logs(self, job_id: str) -> list[LogLine]:
        """A job's log lines (``Context.log``), oldest first: ``queue.inspect.job_logs``."""
        return await self.inspect.job_logs(job_id)

    # -- deprecated: the read and admin side is ``queue.inspect`` -------------------------------

    async def job(self, job_id: str) -> JobInfo | None:
        """Deprecated: ``queue.inspect.job(job_id)``."""
        _deprecated("job")
        return await self.inspect.job(job_id)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Deprecated: ``queue.inspect.dead_letters(limit)``."""
        _deprecated("dead_letters")
        return await self.inspect.dead_letters(limit)

    async def requeue_dead_letters(self, limit: int | None = None) -> int:
        """Deprecated: ``queue.inspect.requeue_dead_letters(limit)``."""
        _deprecated("requeue_dead_letters")
        return await self.inspect.requeue_dead_letters(limit)

    async def purge_dead_letters(self) -> int:
        """Deprecated: ``queue.inspect.purge_dead_letters()``."""
        _deprecated("purge_dead_letters")
        return await self.inspect.purge_dead_letters()

    async def stats(self) -> dict[str, int]:
        """Deprecated: ``queue.inspect.stats()``."""
        _deprecated("stats")
        return await self.inspect.stats()

    async def pending_count(self) -> int:
        """Deprecated: ``queue.inspect.pending_count()``."""
        _deprecated("pending_count")
        return await self.inspect.pending_count()


def _deprecated(name: str) -> None:
    warnings.warn(f"Queue.{name}() is deprecated: use queue.inspect.{name}()", DeprecationWarning,
                  stacklevel=3)
