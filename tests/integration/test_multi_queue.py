"""One worker serving several queues: order, balance, pickup with no polling, each queue's own
tasks, hooks, heartbeat and processing list, and the CLI with several targets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncjobs import ConfigError, Context, JobDeadLettered, JobStatus, Queue, Worker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def two(make_queue: Callable[..., Queue]) -> AsyncIterator[tuple[Queue, Queue]]:
    first, second = make_queue(), make_queue()
    yield first, second
    await first.aclose()
    await second.aclose()


@asynccontextmanager
async def serving(queues: list[Queue], **options: Any) -> AsyncIterator[Worker]:
    """A worker over ``queues`` running in this event loop for the duration of the block."""
    worker = Worker(queues, **{"grace": 2.0, **options})
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        try:
            yield worker
        finally:
            worker.stop(now=True)


def ordered_tasks(first: Queue, second: Queue, starts: list[str]) -> None:
    @first.task(name="step")
    async def step_a(n: int) -> None:
        starts.append(f"a{n}")

    @second.task(name="step")
    async def step_b(n: int) -> None:
        starts.append(f"b{n}")


async def test_jobs_of_every_queue_run(two: tuple[Queue, Queue]) -> None:
    first, second = two

    @first.task
    async def double(n: int) -> int:
        return 2 * n

    @second.task
    async def negate(n: int) -> int:
        return -n

    async with serving([first, second], concurrency=4):
        doubled = [await double.delay(i) for i in range(5)]
        negated = [await negate.delay(i) for i in range(5)]
        assert [await j.result(timeout=10) for j in doubled] == [0, 2, 4, 6, 8]
        assert [await j.result(timeout=10) for j in negated] == [0, -1, -2, -3, -4]


async def test_ordered_takes_every_job_of_the_first_queue_before_any_of_the_second(
    two: tuple[Queue, Queue],
) -> None:
    first, second = two
    starts: list[str] = []
    ordered_tasks(first, second, starts)
    for i in range(20):  # interleaved enqueue; the backlog is there before the worker starts
        await second.tasks["step"].delay(i)
        await first.tasks["step"].delay(i)
    async with serving([first, second], concurrency=2):
        await wait_until(lambda: len(starts) == 40, 10, "40 starts")
    assert starts == [f"a{i}" for i in range(20)] + [f"b{i}" for i in range(20)]


async def test_balanced_interleaves_the_queues(two: tuple[Queue, Queue]) -> None:
    first, second = two
    starts: list[str] = []
    ordered_tasks(first, second, starts)
    for i in range(20):
        await first.tasks["step"].delay(i)
    for i in range(20):
        await second.tasks["step"].delay(i)
    async with serving([first, second], concurrency=2, balance=True):
        await wait_until(lambda: len(starts) == 40, 10, "40 starts")
    kinds = "".join(s[0] for s in starts)
    assert kinds[:20].count("a") >= 8 and kinds[:20].count("b") >= 8, kinds
    assert "aaaa" not in kinds[:30] and "bbbb" not in kinds[:30], kinds
    assert sorted(starts) == sorted(f"{k}{i}" for k in "ab" for i in range(20))


async def test_a_job_on_any_queue_of_an_idle_worker_starts_at_once(
    make_queue: Callable[..., Queue],
) -> None:
    # a fetch that polled the queues in turn would wait out a 2.5 s block on the others
    queues = [make_queue(block_timeout=2.5, socket_timeout=3.0) for _ in range(3)]
    for q in queues:
        @q.task(name="noop")
        async def noop() -> None:
            return None
    try:
        async with serving(queues, concurrency=6):
            await (await queues[0].tasks["noop"].delay()).result(timeout=10)  # it is up
            for i in (2, 1, 2, 0, 1):
                job = await queues[i].tasks["noop"].delay()
                await job.result(timeout=10)
                info = await job.info()
                assert info is not None and info.started_at and info.enqueued_at
                assert info.started_at - info.enqueued_at < 1.0, (i, info)
    finally:
        for q in queues:
            await q.aclose()


async def test_each_queue_runs_only_its_own_tasks_with_its_own_hooks(
    two: tuple[Queue, Queue],
) -> None:
    first, second = two
    events: list[str] = []

    @first.on_startup
    async def open_first(state: dict[str, object]) -> None:
        state["name"] = "first"

    @second.on_startup
    async def open_second(state: dict[str, object]) -> None:
        state["name"] = "second"

    @first.on_shutdown
    async def close_first(state: dict[str, object]) -> None:
        events.append(f"closed {state['name']}")

    @second.on_shutdown
    async def close_second(state: dict[str, object]) -> None:
        events.append(f"closed {state['name']}")

    @first.task(name="who")
    async def who_first(ctx: Context) -> list[object]:
        return ["first task", ctx.queue, ctx.state["name"]]

    @second.task(name="who")
    async def who_second(ctx: Context) -> list[object]:
        return ["second task", ctx.queue, ctx.state["name"]]

    @first.task
    async def only_first() -> str:
        return "ran"

    async with serving([first, second], concurrency=2):
        assert await (await who_first.delay()).result(timeout=10) == [
            "first task", first.name, "first"]
        assert await (await who_second.delay()).result(timeout=10) == [
            "second task", second.name, "second"]
        stray = await second.enqueue(only_first.call())  # a task the second queue lacks
        with pytest.raises(JobDeadLettered) as caught:
            await stray.result(timeout=10)
        assert caught.value.exc_type == "unknown_task"
    assert sorted(events) == ["closed first", "closed second"]


async def test_every_queue_lists_the_worker_and_gets_its_unfinished_jobs_back(
    two: tuple[Queue, Queue],
) -> None:
    first, second = two
    running: list[str] = []

    @first.task(name="hold")
    async def hold_first(ctx: Context) -> None:
        running.append(ctx.job_id)
        await anyio.sleep(30)

    @second.task(name="hold")
    async def hold_second(ctx: Context) -> None:
        running.append(ctx.job_id)
        await anyio.sleep(30)

    jobs = [await hold_first.delay() for _ in range(2)] + [await hold_second.delay() for _ in range(2)]
    async with serving([first, second], concurrency=4) as worker:
        await wait_until(lambda: len(running) == 4, 10, "4 running jobs")
        for q in (first, second):
            [info] = await q.inspect.workers()
            assert info.id == worker.id and info.alive and info.running == 2
    for q in (first, second):
        assert await q.inspect.pending_count() == 2
        assert await q.redis.exists(q.keys.processing(worker.id)) == 0
        assert await q.inspect.workers() == []
    for job in jobs:
        info = await job.info()
        assert info is not None and info.status is JobStatus.QUEUED and info.attempts == 0


async def test_a_burst_worker_drains_every_queue_then_exits(two: tuple[Queue, Queue]) -> None:
    first, second = two
    starts: list[str] = []
    ordered_tasks(first, second, starts)
    for i in range(5):
        await first.tasks["step"].delay(i)
        await second.tasks["step"].delay(i)
    with anyio.fail_after(10):
        await Worker([first, second], concurrency=2, burst=True).run()
    assert sorted(starts) == sorted(f"{k}{i}" for k in "ab" for i in range(5))
    for q in (first, second):
        assert await q.inspect.pending_count() == 0


def test_config_errors_are_clear(make_queue: Callable[..., Queue]) -> None:
    first, second = make_queue(), make_queue()
    with pytest.raises(ConfigError, match=r"concurrency \(1\) must be at least the number of queues \(2\)"):
        Worker([first, second], concurrency=1)
    elsewhere = Queue("elsewhere", "redis://:secret@other-host:6379/0")
    with pytest.raises(ConfigError, match="must be on one Redis server") as caught:
        Worker([first, elsewhere])
    assert "secret" not in str(caught.value)
    with pytest.raises(ConfigError, match="each queue once"):
        Worker([first, first])
    with pytest.raises(ConfigError, match="at least one queue"):
        Worker([])
    assert Worker(first, concurrency=1).queues == (first,)


def start_cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "asyncjobs", "worker", *args], cwd=ROOT, env=env, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


async def test_cli_with_two_targets_runs_jobs_of_both(redis_url: str, tmp_path: Path) -> None:
    from tests.apps import multi

    name = f"t-{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "ASYNCJOBS_REDIS_URL": redis_url, "ASYNCJOBS_TEST_QUEUE": name,
           "ASYNCJOBS_TEST_LEDGER": str(tmp_path / "ledger")}
    emails = Queue(f"{name}-emails", redis_url, settings=multi.SETTINGS)
    reports = Queue(f"{name}-reports", redis_url, settings=multi.SETTINGS)
    send = emails.task(name="send")(multi.send.fn)
    build = reports.task(name="build")(multi.build.fn)
    proc = start_cli(env, "tests.apps.multi:emails", "tests.apps.multi:reports", "--balance",
                     "-c", "4")
    try:
        sent = await send.delay("a@example.com")
        built = await build.delay(4)
        assert await sent.result(timeout=20) == "sent to a@example.com"
        assert await built.result(timeout=20) == 40
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        await emails.aclose()
        await reports.aclose()
    assert proc.returncode == 0, err
    assert f"queue '{name}-emails'" in err and f"queue '{name}-reports'" in err, err
    lines = (tmp_path / "ledger").read_text().split("\n")
    assert sorted(line.split()[0] for line in lines if line) == [f"{name}-emails",
                                                                 f"{name}-reports"]


def test_cli_bad_second_target_prints_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "asyncjobs", "worker", "tests.apps.multi:emails",
         "tests.apps.multi:nope"], cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: module 'tests.apps.multi' has no attribute 'nope'"

