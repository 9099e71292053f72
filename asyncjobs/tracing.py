"""OpenTelemetry spans around enqueues and runs, with the optional extra ``otel``
(``opentelemetry-api``; the application installs and configures the SDK).

- **Producer**: ``task.delay()`` and ``delay_sync()`` (and their ``options(...)`` forms) run in a
  ``send <queue>`` span (kind PRODUCER); ``task.call()`` makes a ``create <queue>`` span, and
  ``queue.enqueue_many()`` / ``enqueue_many_sync()`` run in one ``send <queue>`` span for the
  batch. The trace context of the span that made the call (``send`` or ``create``) travels in
  the job (``Envelope.trace``, injected by the global propagator: W3C ``traceparent`` by
  default).
- **Worker**: each run is a ``process <queue>`` span (kind CONSUMER), the child of that context,
  and the current span while the task runs (spans the task makes are its children). A failed
  attempt (an exception, a timeout; retried or not) records the exception and sets the status
  to ERROR. Input that cannot run (undecodable, of an unknown task) is dead-lettered untraced.

Attributes: ``messaging.system`` (``asyncjobs``), ``messaging.destination.name`` (the queue),
``messaging.operation.type`` / ``.name`` (``send``, ``create``, ``process``),
``messaging.message.id`` (the job id), ``messaging.batch.message_count`` (a batch),
``asyncjobs.task``, ``asyncjobs.attempt`` and ``asyncjobs.worker.id`` (a run).

asyncjobs never imports ``opentelemetry`` itself: an application that traces has imported it
to configure its tracer provider. Until a configured provider is seen, ``tracer()`` reads the
clock, and once a second looks: is ``opentelemetry.trace`` imported, and is its global provider
a real one, not the API's proxy or no-op provider (asking the API costs about 3 µs: too much
for every job)? Nothing else happens: no span, no context in the job. So tracing costs the
same whether ``opentelemetry`` is installed or not, and a provider configured after the first
enqueue or run is seen within a second. The first configured provider seen is kept.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ._version import __version__
from .protocol import Envelope, ErrorKind, Outcome

if TYPE_CHECKING:  # the optional extra: imported at run time only once the application has
    from opentelemetry.trace import Span, Tracer

SYSTEM = "asyncjobs"
RECHECK = 1.0
"""Seconds between two looks for a configured tracer provider while there is none."""
_tracer: Tracer | None = None
_next_look = 0.0


def tracer() -> Tracer | None:
    """asyncjobs' tracer when a tracer provider is configured, else None (then trace nothing)."""
    global _tracer, _next_look
    if _tracer is not None:
        return _tracer
    now = time.monotonic()
    if now < _next_look:
        return None
    _next_look = now + RECHECK
    if "opentelemetry.trace" not in sys.modules:  # not imported: no provider configured
        return None
    from opentelemetry import trace
    from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider

    provider = trace.get_tracer_provider()
    if not isinstance(provider, ProxyTracerProvider | NoOpTracerProvider):
        _tracer = provider.get_tracer(SYSTEM, __version__)
    return _tracer


def _attributes(operation: str, queue: str) -> dict[str, str | int]:
    return {"messaging.system": SYSTEM, "messaging.destination.name": queue,
            "messaging.operation.type": operation, "messaging.operation.name": operation}


@contextmanager
def producing(
    tracer: Tracer, operation: str, queue: str, task: str | None = None, count: int | None = None
) -> Iterator[Span]:
    """A PRODUCER span ``<operation> <queue>`` (``send`` or ``create``), current in the block;
    an exception leaving the block is recorded and sets the status to ERROR."""
    from opentelemetry.trace import SpanKind, use_span

    attributes = _attributes(operation, queue)
    if task is not None:
        attributes["asyncjobs.task"] = task
    if count is not None:
        attributes["messaging.batch.message_count"] = count
    span = tracer.start_span(f"{operation} {queue}", kind=SpanKind.PRODUCER, attributes=attributes)
    with use_span(span, end_on_exit=True):
        yield span


def carrier(span: Span) -> dict[str, str]:
    """The trace context of ``span``, for ``Envelope.trace``."""
    from opentelemetry import propagate, trace

    context: dict[str, str] = {}
    propagate.inject(context, context=trace.set_span_in_context(span))
    return context


def identify(span: Span, job_id: str) -> None:
    span.set_attribute("messaging.message.id", job_id)


@contextmanager
def running(
    tracer: Tracer, queue: str, envelope: Envelope, attempt: int, worker_id: str
) -> Iterator[Span]:
    """The CONSUMER span ``process <queue>`` of one run, the child of the context its envelope
    carries (a root span when it carries none), current in the block; ended on leaving it."""
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind, use_span

    attributes = _attributes("process", queue)
    attributes.update({"messaging.message.id": envelope.id, "asyncjobs.task": envelope.task,
                       "asyncjobs.attempt": attempt, "asyncjobs.worker.id": worker_id})
    parent = propagate.extract(envelope.trace) if envelope.trace else None
    span = tracer.start_span(f"process {queue}", context=parent, kind=SpanKind.CONSUMER,
                             attributes=attributes)
    # a cancellation (shutdown, fence) ends the span with no status: the job runs again
    with use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
        yield span


def ended(span: Span, outcome: Outcome, exc: BaseException | None) -> None:
    """Record how a run ended on its span: an error sets the status to ERROR, with the
    exception the task raised (or an ``exception`` event built from the outcome)."""
    from opentelemetry.trace import Status, StatusCode

    error = outcome.error
    if error is None:
        return
    span.set_attribute("error.type", error.type)
    if error.kind is ErrorKind.CANCELLED:
        return
    if exc is not None:
        span.record_exception(exc)
    else:
        span.add_event("exception", _exception_event(error.type, error.message))
    span.set_status(Status(StatusCode.ERROR, f"{error.type}: {error.message}"))


def _exception_event(exc_type: str, message: str) -> Mapping[str, str]:
    return {"exception.type": exc_type, "exception.message": message}
