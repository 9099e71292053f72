"""The ``asyncjobs`` command: subprocess workers, signals, and clear errors for bad targets."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncjobs import JobStatus, Queue
from tests.support.waiting import wait_until

from .conftest import TEST_SETTINGS

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
APP = "tests.apps.app:queue"


def cli(*args: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "asyncjobs", *args], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **kwargs,  # type: ignore[call-overload]
    )


@pytest.fixture
def app_env(redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env.update(
        ASYNCJOBS_REDIS_URL=redis_url,
        ASYNCJOBS_TEST_QUEUE=f"t-{uuid.uuid4().hex[:12]}",
        ASYNCJOBS_TEST_LEDGER=str(tmp_path / "ledger"),
    )
    yield env


@pytest.fixture
async def app_queue(app_env: dict[str, str]) -> Iterator[Queue]:
    from tests.apps import app

    queue = Queue(app_env["ASYNCJOBS_TEST_QUEUE"], app_env["ASYNCJOBS_REDIS_URL"],
                  settings=TEST_SETTINGS)
    for task in app.queue.tasks.values():  # the same tasks, bound to this test's queue
        queue.task(name=task.name, timeout=task.timeout)(task.fn)
    yield queue
    await queue.aclose()


def ledger(env: dict[str, str]) -> list[list[str]]:
    path = Path(env["ASYNCJOBS_TEST_LEDGER"])
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("tests.apps.app", "expected 'module:attribute' (for example app:queue)"),
        ("no_such_module:queue", "cannot import 'no_such_module'"),
        ("tests.apps.nope:queue", "no module named 'tests.apps.nope'"),
        ("tests.apps.app:missing", "has no attribute 'missing'"),
        ("tests.apps.app:not_a_queue", "is an object, not an asyncjobs.Queue"),
        ("tests.apps.app:square", "is an AsyncTask, not an asyncjobs.Queue"),
        ("tests.apps.app:LEDGER", "is a str, not an asyncjobs.Queue"),
    ],
)
def test_bad_targets_print_one_line_and_exit_2(target: str, expected: str) -> None:
    proc = cli("worker", target)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_import_error_inside_the_users_module_keeps_its_traceback() -> None:
    proc = cli("worker", "tests.apps.broken:queue")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Traceback" in err
    assert "a_dependency_that_is_not_installed" in err


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_burst_worker_drains_and_exits_0(app_env: dict[str, str], app_queue: Queue,
                                               loop: str) -> None:
    square = app_queue.tasks["square"]
    jobs = await app_queue.enqueue_many([square.call(n) for n in range(50)])
    proc = cli("worker", APP, "--burst", "--loop", loop, env=app_env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f", {loop} event loop, tasks:" in err
    assert [await job.result(timeout=5) for job in jobs] == [n * n for n in range(50)]
    assert await app_queue.inspect.pending_count() == 0


async def test_1000_jobs_across_two_worker_processes_run_exactly_once(
    app_env: dict[str, str], app_queue: Queue
) -> None:
    square = app_queue.tasks["square"]
    # at WARNING: the test reads stderr only at the end, and INFO logs a line per job
    workers = [cli("worker", APP, "-c", "20", "--log-level", "WARNING", env=app_env)
               for _ in range(2)]
    try:
        await wait_until(lambda: _registered(app_queue, 2), timeout=30, what="2 workers up")
        jobs = await app_queue.enqueue_many([square.call(n) for n in range(1000)])
        values = [await job.result(timeout=60) for job in jobs]
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=30) for proc in workers]
        codes = [proc.returncode for proc in workers]
    assert values == [n * n for n in range(1000)]
    assert codes == [0, 0], outputs
    runs = Counter(line[1] for line in ledger(app_env) if line[0] == "S")
    assert set(runs) == {job.id for job in jobs}
    assert set(runs.values()) == {1}
    pids = {line[2] for line in ledger(app_env)}
    assert len(pids) == 2, "both workers took part"
    assert (await app_queue.inspect.stats()).get("duplicate_completions", 0) == 0


async def _registered(queue: Queue, n: int) -> bool:
    return int(await queue.redis.zcard(queue.keys.workers)) >= n


async def test_sigterm_with_jobs_in_flight_loses_nothing(
    app_env: dict[str, str], app_queue: Queue
) -> None:
    sleepy = app_queue.tasks["sleepy"]
    quick = await app_queue.enqueue_many([sleepy.call(0.1) for _ in range(5)])
    slow = await app_queue.enqueue_many([sleepy.call(3.0) for _ in range(5)])
    later = await app_queue.enqueue_many([sleepy.call(0.0) for _ in range(20)])
    proc = cli("worker", APP, "-c", "10", "--grace", "0.5", env=app_env)
    await wait_until(
        lambda: {line[1] for line in ledger(app_env)} >= {job.id for job in slow},
        timeout=30, what="the slow jobs started",
    )
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    for job in quick:
        assert await job.result(timeout=1) == 0.1
    for job in slow:
        info = await job.info()
        assert info is not None and info.status is JobStatus.QUEUED and info.attempts == 0
    started = {line[1] for line in ledger(app_env) if line[0] == "S"}
    not_started = [job for job in later if job.id not in started]
    assert await app_queue.inspect.pending_count() == len(slow) + len(not_started)
    assert await app_queue.redis.zcard(app_queue.keys.workers) == 0
    assert [k async for k in app_queue.redis.scan_iter(match=f"{app_queue.keys.base}:processing:*")] == []
    # a new worker finishes every job: nothing was lost
    proc = cli("worker", APP, "-c", "50", "--burst", env=app_env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    for job in quick + slow + later:
        await job.result(timeout=1)
    ends = Counter(line[1] for line in ledger(app_env) if line[0] == "E")
    assert all(ends[job.id] == 1 for job in quick + slow + later)


async def test_jobs_fetched_ahead_are_put_back_at_a_stop_not_run(
    app_env: dict[str, str], app_queue: Queue
) -> None:
    """While its jobs end fast, a worker fetches ahead of its free slots (worker/slots.py): here
    its two slots run slow jobs and the next ones wait in its list. A stop puts those back,
    unstarted, and a new worker runs every job exactly once."""
    square, sleepy = app_queue.tasks["square"], app_queue.tasks["sleepy"]
    fast = await app_queue.enqueue_many([square.call(n) for n in range(3000)])
    slow = await app_queue.enqueue_many([sleepy.call(3.0) for _ in range(10)])
    redis = app_queue.redis

    async def held() -> int:
        keys = [key async for key in redis.scan_iter(match=f"{app_queue.keys.base}:processing:*")]
        return sum([await redis.llen(key) for key in keys])

    def started() -> Counter[str]:
        return Counter(line[1] for line in ledger(app_env) if line[0] == "S")

    # WARNING: a line a job would fill the pipe of its stderr, which is read only at the end
    proc = cli("worker", APP, "-c", "2", "--grace", "10", "--log-level", "WARNING", env=app_env)
    slow_ids = {job.id for job in slow}

    async def ahead_of_two_slow_jobs() -> bool:
        return len(slow_ids & set(started())) == 2 and await held() > 2

    async def state() -> str:
        return f"slow started: {len(slow_ids & set(started()))}, in the worker's list: {await held()}"

    await wait_until(ahead_of_two_slow_jobs, timeout=60, dump=state,
                     what="two slow jobs running and more jobs in the worker's list")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    ran = [job for job in slow if job.id in started()]
    assert len(ran) == 2  # those fetched ahead did not start after the stop
    for job in ran:
        assert await job.result(timeout=1) == 3.0
    for job in slow:
        if job not in ran:
            info = await job.info()
            assert info is not None and info.status is JobStatus.QUEUED and info.attempts == 0
    assert await held() == 0
    proc = cli("worker", APP, "-c", "50", "--burst", "--log-level", "WARNING", env=app_env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    for job in fast + slow:
        await job.result(timeout=1)
    runs = started()
    assert all(runs[job.id] == 1 for job in fast + slow)


async def test_a_second_signal_skips_the_grace_period(
    app_env: dict[str, str], app_queue: Queue
) -> None:
    sleepy = app_queue.tasks["sleepy"]
    jobs = await app_queue.enqueue_many([sleepy.call(60.0) for _ in range(3)])
    proc = cli("worker", APP, "-c", "5", "--grace", "60", env=app_env)
    await wait_until(lambda: len(ledger(app_env)) == 3, timeout=30, what="3 jobs started")
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)  # far below the 60 s grace
    assert proc.returncode == 0, err
    # both signals may be pending at once, and the kernel delivers the lower-numbered first
    assert re.search(r"second SIG(INT|TERM), stopping now", err), err
    assert await app_queue.inspect.pending_count() == 3
    for job in jobs:
        info = await job.info()
        assert info is not None and info.status is JobStatus.QUEUED


async def test_burst_worker_waits_for_scheduled_jobs_only_when_asked(
    app_env: dict[str, str], app_queue: Queue
) -> None:
    square = app_queue.tasks["square"]
    # due after the plain --burst worker below has started and left (a process start takes
    # over a second on a busy machine)
    soon = await square.options(delay=5.0).delay(3)
    later = await square.options(delay=3600).delay(4)
    proc = cli("worker", APP, "--burst", env=app_env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    info = await soon.info()
    assert info is not None and info.status is JobStatus.SCHEDULED  # plain --burst left it
    proc = cli("worker", APP, "--burst", "--wait-scheduled", "30", env=app_env)
    _, err = proc.communicate(timeout=60)  # exits without waiting for the job an hour away
    assert proc.returncode == 0, err
    assert await soon.result(timeout=1) == 9
    info = await later.info()
    assert info is not None and info.status is JobStatus.SCHEDULED
