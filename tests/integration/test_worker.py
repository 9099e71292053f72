"""The engine end to end with an in-process worker on a real server."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import enum
import threading
import time
import uuid
from datetime import UTC, datetime

import anyio
import msgspec
import pytest

from asyncjobs import (
    Context,
    JobDeadLettered,
    JobFailed,
    JobNotFound,
    JobStatus,
    Queue,
    ResultTimeout,
    TaskTimeout,
    Worker,
)
from asyncjobs.protocol import ENCODER, Envelope, decode_notice_body
from tests.support.waiting import wait_until

from .conftest import running_worker

pytestmark = pytest.mark.anyio


async def test_round_trip_result_by_handle_by_id_and_info(queue: Queue) -> None:
    @queue.task
    async def send_email(to: str, subject: str, body: str = "") -> dict[str, str]:
        return {"to": to, "subject": subject, "body": body}

    async with running_worker(queue, concurrency=4):
        job = await send_email.delay("a@example.com", "Welcome")
        assert await job.result(timeout=10) == {"to": "a@example.com", "subject": "Welcome", "body": ""}
        assert await queue.result(job.id, timeout=10) == await job.result()
        info = await queue.inspect.job(job.id)
    assert info is not None
    assert info.status is JobStatus.COMPLETE
    assert info.task == send_email.name == f"{__name__}.{send_email.fn.__qualname__}"
    assert info.attempts == 1
    assert info.enqueued_at is not None and info.started_at is not None
    assert info.finished_at is not None
    assert info.enqueued_at <= info.started_at <= info.finished_at
    assert info.error is None


async def test_queued_job_info_and_unknown_id(queue: Queue) -> None:
    @queue.task
    async def noop() -> None:
        return None

    before = time.time()
    job = await noop.delay()
    later = await noop.options(delay=60).delay()
    info = await job.info()
    assert info is not None and info.status is JobStatus.QUEUED and info.attempts == 0
    assert info.task == noop.name and info.enqueued_at is not None
    assert before <= info.enqueued_at <= time.time()
    assert not await queue.redis.exists(queue.keys.job(job.id)), "a record is made at start"
    info = await later.info()
    assert info is not None and info.status is JobStatus.SCHEDULED
    assert await queue.connection().scripts.promote(time.time() + 120) == (1, None)
    info = await later.info()
    assert info is not None and info.status is JobStatus.QUEUED and info.task == noop.name
    assert await queue.inspect.job("no-such-job") is None
    with pytest.raises(JobNotFound):
        await queue.result("no-such-job", timeout=1)


async def test_calling_a_task_runs_it_inline(queue: Queue) -> None:
    @queue.task
    async def add(a: int, b: int) -> int:
        return a + b

    @queue.task
    def mul(a: int, b: int) -> int:
        return a * b

    assert await add(2, 3) == 5
    assert mul(2, 3) == 6
    assert await queue.inspect.pending_count() == 0


async def test_failed_job_raises_job_failed_with_remote_details(queue: Queue) -> None:
    @queue.task
    async def explode(n: int) -> int:
        raise ValueError(f"bad n {n}")

    async with running_worker(queue):
        job = await explode.delay(7)
        with pytest.raises(JobFailed) as caught:
            await job.result(timeout=10)
    assert caught.type is JobFailed
    assert caught.value.exc_type == "ValueError"
    assert caught.value.message == "bad n 7"
    assert "in explode" in caught.value.traceback
    info = await queue.inspect.job(job.id)
    assert info is not None and info.status is JobStatus.FAILED
    assert info.error == "ValueError: bad n 7"


async def test_task_over_its_timeout_is_cancelled(queue: Queue) -> None:
    cancelled = anyio.Event()

    @queue.task(timeout=0.2)
    async def slow() -> str:
        try:
            await anyio.sleep(30)
        finally:
            cancelled.set()
        return "never"

    async with running_worker(queue):
        job = await slow.delay()
        with pytest.raises(TaskTimeout) as caught:
            await job.result(timeout=10)
    assert cancelled.is_set()
    assert "timeout of 0.2 s" in caught.value.message


async def test_result_wait_runs_out(queue: Queue) -> None:
    @queue.task
    async def never_run() -> None:
        return None

    job = await never_run.delay()
    started = time.monotonic()
    with pytest.raises(ResultTimeout) as caught:
        await job.result(timeout=0.3)
    assert isinstance(caught.value, TimeoutError)
    assert time.monotonic() - started < 5


async def test_sync_tasks_run_in_threads(queue: Queue) -> None:
    loop_thread = threading.get_ident()

    @queue.task(name="images.resize", timeout=5.0, result_ttl=600)
    def resize(path: str, width: int) -> tuple[str, bool]:
        return f"{path}@{width}", threading.get_ident() != loop_thread

    @queue.task(timeout=0.2)
    def stuck() -> None:
        time.sleep(1.0)

    async with running_worker(queue):
        job = await resize.delay("a.jpg", 640)
        assert await job.result(timeout=10) == ("a.jpg@640", True)
        with pytest.raises(TaskTimeout):
            await (await stuck.delay()).result(timeout=10)
    assert 0 < await queue.redis.pttl(queue.keys.job(job.id)) <= 600_000


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Order(msgspec.Struct):
    id: uuid.UUID
    at: datetime
    color: Color
    points: list[Point]
    tags: dict[str, list[int]]


async def test_typed_payloads_round_trip(queue: Queue) -> None:
    seen: list[object] = []

    @queue.task
    async def handle(order: Order, when: datetime, key: uuid.UUID, color: Color, p: Point) -> Order:
        seen.extend([order, when, key, color, p])
        return order

    order = Order(
        id=uuid.uuid4(), at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), color=Color.BLUE,
        points=[Point(1, 2), Point(3, 4)], tags={"a": [1, 2]},
    )
    key = uuid.uuid4()
    async with running_worker(queue):
        job = await handle.delay(order, order.at, key, Color.RED, Point(5, 6))
        returned = await job.result(timeout=10)
    assert seen == [order, order.at, key, Color.RED, Point(5, 6)]
    assert isinstance(seen[0], Order) and isinstance(seen[4], Point)
    assert returned == order and isinstance(returned, Order)
    assert isinstance(await queue.result(job.id), Order)


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


async def test_a_context_variable_a_job_sets_is_never_seen_by_the_next(queue: Queue) -> None:
    seen: list[str] = []

    @queue.task
    async def tagged(n: int) -> None:
        seen.append(REQUEST_ID.get())
        REQUEST_ID.set(f"job-{n}")
        await anyio.lowlevel.checkpoint()  # the value holds across the job's own awaits
        assert REQUEST_ID.get() == f"job-{n}"

    jobs = [await tagged.delay(n) for n in range(20)]
    async with running_worker(queue, concurrency=1):  # one runner runs them all, in turn
        for job in jobs:
            await job.result(timeout=10)
    assert seen == ["unset"] * 20


async def test_one_runner_goes_on_after_a_timeout_a_failure_and_scopes_of_the_task(
    queue: Queue,
) -> None:
    @queue.task(timeout=0.1)
    async def stuck() -> None:
        await anyio.sleep(10)

    @queue.task
    async def fails() -> None:
        raise ValueError("no")

    @queue.task
    async def scoped() -> int:
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep, 0.01)
        with anyio.move_on_after(0.01):
            await anyio.sleep(1)
        async with asyncio.timeout(5):
            await asyncio.sleep(0)
        return 1

    jobs = [await stuck.delay(), await fails.delay(), await scoped.delay(), await stuck.delay(),
            await scoped.delay()]
    async with running_worker(queue, concurrency=1):
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(await job.result(timeout=10))
            except JobFailed as exc:
                outcomes.append(exc.exc_type)
    assert outcomes == ["TaskTimeout", "ValueError", 1, "TaskTimeout", 1]


async def test_context_and_lifecycle_hooks(queue: Queue) -> None:
    events: list[str] = []

    @queue.on_startup
    async def open_pool(state: dict[str, object]) -> None:
        state["pool"] = "the-pool"
        events.append("startup")

    @queue.on_shutdown
    async def close_pool(state: dict[str, object]) -> None:
        events.append(f"shutdown {state['pool']}")

    @queue.task
    async def whoami(ctx: Context, n: int) -> list[object]:
        return [ctx.job_id, ctx.attempt, ctx.state["pool"], ctx.queue, n]

    async with running_worker(queue) as worker:
        job = await whoami.delay(3)
        assert await job.result(timeout=10) == [job.id, 1, "the-pool", queue.name, 3]
    assert events == ["startup", "shutdown the-pool"]
    assert worker.id


async def test_inline_call_of_a_context_task_gets_an_inline_context(queue: Queue) -> None:
    @queue.task
    async def ident(ctx: Context, n: int) -> tuple[str, int, int]:
        return ctx.job_id, ctx.attempt, n

    assert await ident(4) == ("inline", 1, 4)


async def test_concurrency_is_never_exceeded(queue: Queue) -> None:
    running = 0
    peak = 0
    release = anyio.Event()

    @queue.task
    async def hold() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    async with running_worker(queue, concurrency=5):
        jobs = [await hold.delay() for _ in range(20)]
        await wait_until(lambda: running == 5, what="5 jobs running")
        assert await queue.inspect.pending_count() == 15
        release.set()
        for job in jobs:
            await job.result(timeout=10)
    assert peak == 5


async def test_every_per_job_key_has_a_ttl_after_a_drain(queue: Queue) -> None:
    @queue.task
    async def echo(n: int) -> int:
        if n % 10 == 0:
            raise RuntimeError("every tenth fails")
        return n

    async with running_worker(queue, concurrency=20):
        jobs = await queue.enqueue_many([echo.call(n) for n in range(200)])
        for job in jobs:
            try:
                await job.result(timeout=20)
            except JobFailed:
                pass
        poison = b"\x94\xa3bad\xa7unknown\x90\xcb\x00\x00\x00\x00\x00\x00\x00\x00"
        await queue.redis.lpush(queue.keys.pending, poison)
        await wait_until(lambda: queue.inspect.dead_letters(), what="the poison job dead-lettered")
    keys = [k.decode() async for k in queue.redis.scan_iter(match=f"aj:{{{queue.name}}}:*")]
    per_job = [k for k in keys if ":job:" in k]
    assert len(per_job) == 201
    minutes = [k for k in keys if ":minute:" in k]
    for key in [*per_job, *minutes, queue.keys.failed]:
        assert await queue.redis.pttl(key) > 0, key
    assert await queue.redis.zcard(queue.keys.failed) == 20
    assert set(keys) - set(per_job) - set(minutes) == {
        queue.keys.stats, queue.keys.dead, queue.keys.failed, queue.keys.events,
        queue.keys.shards}  # one short string, no TTL: the queue's layout
    # bounded by its length, not by a TTL: 200 enqueued, started, finished, and the dead letter,
    # in fewer entries (the events of one step share one)
    entries = await queue.redis.xrange(queue.keys.events)
    assert sum(int(fields.get(b"n", 1)) for _, fields in entries) == 601
    assert len(entries) < 601
    stats = await queue.inspect.stats()
    assert stats == {"complete": 180, "failed": 20, "dead": 1}


def _raw_envelope(job_id: str, task: str, args: bytes) -> bytes:
    return ENCODER.encode(Envelope(job_id, task, msgspec.Raw(args), time.time()))


async def test_poison_input_goes_to_dead_letters_and_worker_goes_on(queue: Queue) -> None:
    @queue.task
    async def greet(name: str) -> str:
        return f"hi {name}"

    poison = {
        b"\xc1\xff garbage": "decode_error",
        b"": "decode_error",
        ENCODER.encode({"not": "an envelope"}): "invalid_envelope",
        _raw_envelope("evil", "os.system", ENCODER.encode(["touch /tmp/x"])): "unknown_task",
        _raw_envelope("skew", greet.name, ENCODER.encode([42])): "invalid_args",
        _raw_envelope("a bad id", "os.system", ENCODER.encode([])): "invalid_envelope",
        _raw_envelope("x" * 200, greet.name, ENCODER.encode(["bob"])): "invalid_envelope",
        b"\x91" * 200_000 + b"\xc0": "invalid_envelope",  # rejected by shape, no recursion
        b"\x94\xa3bmb\xa5greet" + b"\x91" * 200_000 + b"\xc0\xcb" + bytes(8): "decode_error",
    }
    async with running_worker(queue):
        for raw in poison:
            await queue.redis.lpush(queue.keys.pending, raw)
        job = await greet.delay("bob")
        assert await job.result(timeout=10) == "hi bob"
        await wait_until(
            lambda: queue.redis.llen(queue.keys.dead), what="dead letters"
        )
        await wait_until(
            lambda: _count(queue, len(poison)), what=f"{len(poison)} dead letters"
        )
    dead = await queue.inspect.dead_letters()
    assert {d.payload: d.reason for d in dead} == poison
    for entry in dead:
        assert entry.queue == queue.name and entry.worker_id and entry.message
    with pytest.raises(JobDeadLettered) as caught:
        await queue.result("skew", timeout=5)
    assert caught.value.exc_type == "invalid_args"
    # counted by minute in the step that dead-lettered them: the chart and jobs/s show them
    history = await queue.inspect.history(minutes=2)
    assert sum(m.dead for m in history) == len(poison)
    assert sum(m.finished for m in history) == len(poison) + 1
    assert "argument 'name': Expected `str`, got `int`" in caught.value.message


async def _count(queue: Queue, n: int) -> bool:
    return int(await queue.redis.llen(queue.keys.dead)) == n


async def test_stop_requeues_unfinished_jobs_with_their_attempt(queue: Queue) -> None:
    started = 0

    @queue.task
    async def forever(n: int) -> None:
        nonlocal started
        started += 1
        await anyio.sleep(60)

    jobs = await queue.enqueue_many([forever.call(n) for n in range(5)])
    async with running_worker(queue, concurrency=3, grace=0.2) as worker:
        await wait_until(lambda: started == 3, what="3 jobs started")
        worker.stop()
    pending = await queue.redis.lrange(queue.keys.pending, 0, -1)
    assert len(pending) == 5
    assert await queue.redis.exists(worker.processing) == 0
    for job in jobs:
        info = await job.info()
        assert info is not None and info.status is JobStatus.QUEUED and info.attempts == 0
    assert await queue.redis.zscore(queue.keys.workers, worker.id) is None


async def test_a_job_that_finished_as_the_worker_stops_now_is_recorded_not_run_again(
    queue: Queue,
) -> None:
    runs = 0
    worker: Worker | None = None

    @queue.task
    async def last() -> str:
        nonlocal runs
        runs += 1
        assert worker is not None
        worker.stop(now=True)  # the worker stops while this job's outcome is on its way
        return "done"

    job = await last.delay()
    worker = Worker(queue, grace=0)
    await worker.run()
    assert runs == 1
    info = await job.info()
    assert info is not None and info.status is JobStatus.COMPLETE
    assert await job.result(timeout=5) == "done"
    assert await queue.redis.llen(queue.keys.pending) == 0


@pytest.mark.single_server("counts connections in one server's CLIENT LIST")
async def test_one_pubsub_connection_serves_every_waiter(queue: Queue) -> None:
    gate = anyio.Event()

    @queue.task
    async def gated(n: int) -> int:
        await gate.wait()
        return n

    jobs = await queue.enqueue_many([gated.call(n) for n in range(50)])
    results: list[int] = []

    async def wait_one(job: object) -> None:
        results.append(await job.result(timeout=20))  # type: ignore[attr-defined]

    before = len(await queue.redis.client_list(_type="pubsub"))
    async with running_worker(queue, concurrency=50), anyio.create_task_group() as tg:
        for job in jobs:
            tg.start_soon(wait_one, job)
        await wait_until(lambda: len(queue.connection().waiter._waiters) == 50, what="50 waiters")
        assert len(await queue.redis.client_list(_type="pubsub")) == before + 1
        gate.set()
    assert sorted(results) == list(range(50))


async def test_scripts_are_reloaded_after_a_script_flush(queue: Queue) -> None:
    @queue.task
    async def double(n: int) -> int:
        return 2 * n

    async with running_worker(queue):
        assert await (await double.delay(1)).result(timeout=10) == 2
        await queue.redis.script_flush()
        job = await double.delay(2)
        assert await job.result(timeout=10) == 4
        info = await job.info()
        assert info is not None and info.attempts == 1 and info.started_at is not None


async def test_small_outcomes_travel_in_the_done_notice(queue: Queue) -> None:
    @queue.task
    async def echo(n: int) -> str:
        if n < 0:
            raise ValueError("negative")
        return "x" * n

    messages = queue.connection().conn.listen(queue.keys.done)
    try:
        assert await anext(messages) is None  # subscribed
        async with running_worker(queue):
            small, big, bad = await echo.delay(3), await echo.delay(10_000), await echo.delay(-1)
            assert await small.result(timeout=10) == "xxx"
            assert await big.result(timeout=10) == "x" * 10_000
            with pytest.raises(JobFailed, match="negative"):
                await bad.result(timeout=10)
            other = Queue(queue.name, queue.settings.redis_url)  # knows no task: decodes as Any
            try:
                assert await other.result(small.id, timeout=10) == "xxx"
            finally:
                await other.aclose()
        notices: dict[bytes, bytes] = {}
        with anyio.fail_after(10):  # every finished job publishes a notice
            while len(notices) < 3:
                data = await anext(messages)
                assert data is not None
                job_id, _, body = data.partition(b" ")
                notices[job_id] = body
    finally:
        await messages.aclose()
    assert notices[big.id.encode()] == b"", "a large outcome is read from the record"
    task, outcome = decode_notice_body(notices[small.id.encode()])
    assert task == echo.name and msgspec.msgpack.decode(outcome.value) == "xxx"
    _, outcome = decode_notice_body(notices[bad.id.encode()])
    assert outcome.error is not None and outcome.error.message == "negative"


async def test_re_enqueue_of_a_finished_job_id_returns_its_stored_result(queue: Queue) -> None:
    @queue.task
    async def double(n: int) -> int:
        return 2 * n

    async with running_worker(queue):
        first = await double.options(job_id="once").delay(21)
        assert await first.result(timeout=10) == 42
        # subscribed and idle: no notice will come for this id again, so its waiter must read
        again = await double.options(job_id="once").delay(0)
        assert await again.result(timeout=10) == 42
        assert await queue.inspect.pending_count() == 0
