"""Tasks: typed wrappers around user functions, and the calls they make into jobs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

import msgspec

from .codec import Envelope, TaskCodec, encode_envelope
from .context import Context
from .job import Job

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Call(Generic[R_co]):
    """A validated, encoded call of a task, ready to enqueue (see ``Queue.enqueue_many``)."""

    job_id: str
    task: str
    payload: bytes
    enqueued_at: float
    decoder: msgspec.msgpack.Decoder[Any]


class Enqueuer(Protocol):
    """What a task needs from its queue (the Queue implements it)."""

    name: str

    @property
    def max_payload_bytes(self) -> int: ...

    async def enqueue_many(self, calls: Sequence[Call[R]]) -> list[Job[R]]: ...


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
        is_async: bool,
    ) -> None:
        self.fn = fn
        self.name = name
        self.queue = queue
        self.timeout = timeout
        self.result_ttl = result_ttl
        self.is_async = is_async
        self.codec = TaskCodec(name, fn)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def call(self, *args: P.args, **kwargs: P.kwargs) -> Call[R]:
        """Validate and encode a call without any Redis I/O."""
        return self._make_call("call", args, kwargs)

    async def delay(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]:
        """Enqueue a call and return its job handle as soon as the job is in Redis.

        Raises ``TaskArgumentError`` (a ``TypeError``) or ``PayloadTooLarge`` before any I/O.
        """
        call = self._make_call("delay", args, kwargs)
        (job,) = await self.queue.enqueue_many([call])
        return job

    def _make_call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call[R]:
        encoded_args = self.codec.encode_args(method, args, kwargs)
        job_id = uuid.uuid4().hex
        now = time.time()
        envelope = Envelope(job_id, self.name, msgspec.Raw(encoded_args), now)
        payload = encode_envelope(envelope, task=self.name, limit=self.queue.max_payload_bytes)
        return Call(job_id, self.name, payload, now, self.codec.result_decoder)

    def _inline_args(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.codec.context_index is None:
            return args
        ctx = Context(job_id="inline", task=self.name, attempt=1, queue=self.queue.name,
                      worker_id="inline")
        return (ctx, *args)

    def __repr__(self) -> str:
        return f"<Task {self.name} of queue {self.queue.name!r}>"


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
