"""The app of the tracing test's worker process: the tasks of ``observed``, and an OpenTelemetry
SDK tracer provider that writes each ended span as one JSON line to ``$ASYNCJOBS_TEST_SPANS``."""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from tests.apps.observed import queue


def _line(span: ReadableSpan) -> str:
    return span.to_json(indent=None) + "\n"


_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(
    out=open(os.environ["ASYNCJOBS_TEST_SPANS"], "a", buffering=1),  # open for the life of the process
    formatter=_line,
)))
trace.set_tracer_provider(_provider)

__all__ = ["queue"]
