"""OpenTelemetry spans (``asyncjobs.tracing``): enqueue spans in this process, run spans in a
worker process that exports them to a file, and the run's span the child of the enqueuing one
across the two; a worker in this process makes its run span current for the task; without a
configured provider nothing is traced, and without opentelemetry installed nothing breaks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from asyncjobs import JobFailed, Queue, tracing
from asyncjobs.protocol import ENVELOPE_DECODER
from tests.support.waiting import wait_until

from .conftest import TEST_SETTINGS, running_worker
from .test_observability import ROOT, worker_process

pytestmark = pytest.mark.anyio


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """This process traces into an in-memory exporter (its own provider, not the global one, so
    the other tests of the session run untraced)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("asyncjobs"))
    yield exporter
    provider.shutdown()


@pytest.fixture
async def traced_queue(redis_url: str) -> AsyncIterator[Queue]:
    from tests.apps import observed

    queue = Queue(f"t-{uuid.uuid4().hex[:12]}", redis_url, settings=TEST_SETTINGS)
    for task in observed.queue.tasks.values():
        queue.task(name=task.name, retries=task.retry.retries)(task.fn)
    yield queue
    await queue.aclose()


def by_job(spans: list[ReadableSpan], name: str) -> dict[str, ReadableSpan]:
    assert spans
    return {str(s.attributes["messaging.message.id"]): s for s in spans  # type: ignore[index]
            if s.name == name and s.attributes and "messaging.message.id" in s.attributes}


@pytest.mark.slow
async def test_a_worker_process_continues_the_trace_of_each_enqueue(
    traced_queue: Queue, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    queue, q = traced_queue, traced_queue.name
    double, broken, again = (queue.tasks[name] for name in ("double", "broken", "again"))
    ok = await double.delay(21)
    failed = await broken.delay(1)
    retried = await again.delay()
    batch = await queue.enqueue_many([double.call(n) for n in range(3)])
    exported = tmp_path / "spans.jsonl"
    exported.touch()

    def runs() -> list[dict[str, Any]]:
        return [json.loads(line) for line in exported.read_text().splitlines()]

    with worker_process(queue, log=tmp_path / "log", app="tests.apps.traced:queue",
                        ASYNCJOBS_TEST_SPANS=str(exported)):
        assert await ok.result(timeout=20) == 42
        with pytest.raises(JobFailed):
            await failed.result(timeout=20)
        assert await retried.result(timeout=20) == 2
        # a run's span ends once its outcome is recorded: a moment after the result
        await wait_until(lambda: len(runs()) == 7, 20, "the worker's 7 run spans",
                         dump=lambda: (tmp_path / "log").read_text())

    sent = by_job(list(spans.get_finished_spans()), f"send {q}")
    created = by_job(list(spans.get_finished_spans()), f"create {q}")
    assert set(sent) == {ok.id, failed.id, retried.id}
    assert set(created) == {job.id for job in batch}
    [batch_span] = [s for s in spans.get_finished_spans()
                    if s.name == f"send {q}" and s.attributes
                    and s.attributes.get("messaging.batch.message_count") == 3]
    for span in (*sent.values(), *created.values(), batch_span):
        assert span.kind is SpanKind.PRODUCER and span.attributes is not None
        assert span.attributes["messaging.system"] == "asyncjobs"
        assert span.attributes["messaging.destination.name"] == q
    assert sent[ok.id].attributes == {
        "messaging.system": "asyncjobs", "messaging.destination.name": q,
        "messaging.operation.type": "send", "messaging.operation.name": "send",
        "asyncjobs.task": "double", "messaging.message.id": ok.id}

    parents = {**sent, **created}
    for run in runs():
        job_id = run["attributes"]["messaging.message.id"]
        parent = parents[job_id].context
        assert parent is not None
        assert run["name"] == f"process {q}" and run["kind"] == "SpanKind.CONSUMER"
        assert run["context"]["trace_id"] == f"0x{parent.trace_id:032x}", "one trace across both"
        assert run["parent_id"] == f"0x{parent.span_id:016x}", "the run is the enqueue's child"
        assert run["attributes"]["messaging.system"] == "asyncjobs"
        assert run["attributes"]["messaging.destination.name"] == q
        assert run["attributes"]["asyncjobs.task"] == parents[job_id].attributes["asyncjobs.task"]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for run in runs():
        by_id.setdefault(run["attributes"]["messaging.message.id"], []).append(run)
    [done] = by_id[ok.id]
    assert done["status"]["status_code"] == "UNSET" and done["attributes"]["asyncjobs.attempt"] == 1
    assert not done["events"]
    [bad] = by_id[failed.id]
    assert bad["status"] == {"status_code": "ERROR", "description": "ValueError: broken 1"}
    [event] = bad["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "broken 1"
    assert "raise ValueError" in event["attributes"]["exception.stacktrace"]
    assert bad["attributes"]["error.type"] == "ValueError"
    first, second = sorted(by_id[retried.id], key=lambda r: r["attributes"]["asyncjobs.attempt"])
    assert [first["attributes"]["asyncjobs.attempt"], second["attributes"]["asyncjobs.attempt"]] \
        == [1, 2]
    assert first["status"]["status_code"] == "ERROR" and second["status"]["status_code"] == "UNSET"
    assert first["parent_id"] == second["parent_id"], "each attempt is a child of the enqueue"


async def test_the_run_span_is_current_in_the_task_and_records_a_timeout(
    queue: Queue, spans: InMemorySpanExporter
) -> None:
    @queue.task(name="nested")
    def nested() -> str:  # a sync task: it runs in a thread, in the run span's context
        span = trace.get_current_span()
        return f"{span.get_span_context().span_id:016x}" if span.is_recording() else ""

    @queue.task(name="slow", timeout=0.05)
    async def slow() -> None:
        await anyio.sleep(30)

    job = await anyio.to_thread.run_sync(nested.delay_sync)
    stalled = await slow.delay()
    async with running_worker(queue):
        current = await queue.result(job.id, timeout=10)
        with pytest.raises(JobFailed):
            await stalled.result(timeout=10)
        await wait_until(lambda: len(by_job(list(spans.get_finished_spans()),
                                            f"process {queue.name}")) == 2, 10, "the run spans")
    runs = by_job(list(spans.get_finished_spans()), f"process {queue.name}")
    sent = by_job(list(spans.get_finished_spans()), f"send {queue.name}")
    run = runs[job.id]
    assert current == f"{run.context.span_id:016x}", "the task saw its run span as current"
    assert run.parent is not None and run.parent.span_id == sent[job.id].context.span_id
    assert run.attributes is not None and run.attributes["asyncjobs.worker.id"]
    timed_out = runs[stalled.id]
    assert timed_out.status.status_code is StatusCode.ERROR
    assert timed_out.status.description is not None and "timeout" in timed_out.status.description
    assert [e.name for e in timed_out.events] == ["exception"]


async def test_without_a_configured_provider_nothing_is_traced(queue: Queue) -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert tracing.tracer() is None

    @queue.task(name="plain")
    async def plain() -> None: ...

    assert ENVELOPE_DECODER.decode(plain.call().payload).trace is None


def test_without_opentelemetry_installed_tracing_is_off(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "opentelemetry").mkdir(parents=True)
    (site / "opentelemetry" / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
    code = ("from asyncjobs import tracing; from tests.apps.observed import queue; "
            "assert tracing.tracer() is None; "
            "print(len(queue.tasks['double'].call(2).payload))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) > 0


def test_a_provider_configured_after_the_first_look_is_seen_at_the_next() -> None:
    code = """if True:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from asyncjobs import tracing
        assert tracing.tracer() is None
        trace.set_tracer_provider(TracerProvider())
        tracing._next_look += 3600  # the next look is far off: until then, nothing
        assert tracing.tracer() is None
        tracing._next_look = 0.0  # its time has come
        assert tracing.tracer() is not None
        print("ok")
    """
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr
