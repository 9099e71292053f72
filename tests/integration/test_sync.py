"""Blocking producers (``delay_sync``, ``enqueue_sync``, ``SyncJob``) from threads and forked
processes, with a real worker on a real server."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import pytest
import redis

from asyncjobs import (
    BlockingCallError,
    EnqueueError,
    JobCancelled,
    JobFailed,
    JobNotFound,
    JobState,
    Queue,
    ResultTimeout,
    Settings,
    SyncJob,
    TaskArgumentError,
)
from asyncjobs.server import free_port

from .conftest import running_worker

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.anyio


def sync_clients(url: str, queue: Queue) -> int:
    """Connections the queue's blocking producer has open on the server now."""
    clients = redis.Redis.from_url(url).client_list()
    return sum(1 for c in clients if c["name"] == f"asyncjobs-sync:{queue.name}")


def settles_at(url: str, queue: Queue, expected: int, timeout: float = 5.0) -> bool:
    """Whether the count of ``sync_clients`` reaches ``expected`` in time (a closed socket
    leaves the server's list a moment later)."""
    deadline = time.monotonic() + timeout
    while sync_clients(url, queue) != expected:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def add_tasks(queue: Queue) -> None:
    @queue.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    @queue.task(name="boom")
    async def boom() -> None:
        raise ValueError("no")


@pytest.mark.single_server("counts connections in one server's CLIENT LIST")
async def test_many_threads_enqueue_and_wait(make_queue: Callable[..., Queue], redis_url: str) -> None:
    queue = make_queue()
    add_tasks(queue)
    add = queue.tasks["add"]
    threads, per_thread = 20, 50

    def produce(t: int) -> list[int]:
        jobs = [add.delay_sync(t, i) for i in range(per_thread)]
        return [job.result(timeout=30) for job in jobs]

    def run_all() -> list[list[int]]:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(produce, range(threads)))

    async with running_worker(queue, concurrency=50):
        results = await anyio.to_thread.run_sync(run_all)
        during = sync_clients(redis_url, queue)
    assert results == [[t + i for i in range(per_thread)] for t in range(threads)]
    # one pool for every thread; a thread waiting for a result holds a subscription, and reads
    assert 1 <= during <= 2 * threads
    counts = await queue.inspect.counts()
    assert counts.complete == threads * per_thread
    assert await anyio.to_thread.run_sync(queue.counts_sync) == counts
    queue.close_sync()
    assert settles_at(redis_url, queue, 0), "close_sync leaves no connection open"
    await queue.aclose()


@pytest.mark.single_server("counts connections in one server's CLIENT LIST")
def test_connections_are_reused_not_leaked(make_queue: Callable[..., Queue], redis_url: str) -> None:
    queue = make_queue()
    add_tasks(queue)
    add = queue.tasks["add"]
    assert sync_clients(redis_url, queue) == 0
    for i in range(200):
        add.delay_sync(i, i)
        queue.job_sync(f"missing-{i}")
    assert sync_clients(redis_url, queue) == 1, "a single thread reuses one connection"
    with pytest.raises(ResultTimeout):
        queue.result_sync(add.delay_sync(1, 1).id, timeout=0.2)  # no worker runs
    assert settles_at(redis_url, queue, 1), "a wait's subscription is closed after it"
    queue.close_sync()
    assert settles_at(redis_url, queue, 0)


async def test_results_failures_cancel_and_info(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue()
    add_tasks(queue)
    add, boom = queue.tasks["add"], queue.tasks["boom"]

    def produce() -> None:
        job: SyncJob[int] = add.delay_sync(2, 3)
        failing = boom.delay_sync()
        info = job.info()
        assert info is not None and info.task == "add"
        assert job.result(timeout=10) == 5
        assert queue.result_sync(job.id, timeout=10) == 5
        info = queue.job_sync(job.id)
        assert info is not None and info.status is JobState.COMPLETE
        with pytest.raises(JobFailed, match="ValueError: no"):
            failing.result(timeout=10)
        later = add.options(delay=3600).delay_sync(1, 1)
        assert later.cancel() is True
        with pytest.raises(JobCancelled):
            later.result(timeout=10)
        assert queue.cancel_sync(job.id) is False, "a finished job is not cancelled"
        assert queue.job_sync("never-enqueued") is None
        with pytest.raises(JobNotFound):
            queue.result_sync("never-enqueued", timeout=1)

    async with running_worker(queue):
        await anyio.to_thread.run_sync(produce)
    queue.close_sync()


def test_idempotent_by_job_id_and_batches(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue()
    add_tasks(queue)
    add = queue.tasks["add"]
    first = add.options(job_id="order-1").delay_sync(1, 2)
    again = add.options(job_id="order-1").delay_sync(5, 5)
    assert first.id == again.id == "order-1"
    calls = [add.call(i, i) for i in range(2500)] + [add.options(priority=5).call(0, 0)]
    jobs = queue.enqueue_many_sync(calls)
    assert [job.id for job in jobs] == [call.job_id for call in calls]
    assert queue.enqueue_many_sync([]) == []

    async def count() -> int:
        try:
            return await queue.inspect.pending_count()
        finally:
            await queue.aclose()

    assert anyio.run(count) == 1 + len(calls)
    queue.close_sync()


def test_validation_before_io_and_enqueue_timeout() -> None:
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    queue = Queue("nowhere", unreachable, settings=Settings(enqueue_timeout=0.3))
    add_tasks(queue)
    add = queue.tasks["add"]
    with pytest.raises(TaskArgumentError, match="argument 'a'"):
        add.delay_sync("one", 2)  # fails at once: nothing is sent
    started = time.monotonic()
    with pytest.raises(EnqueueError, match="enqueue_timeout"):
        add.delay_sync(1, 2)
    assert time.monotonic() - started < 3


async def test_refused_inside_an_event_loop(queue: Queue) -> None:
    add_tasks(queue)
    add = queue.tasks["add"]
    with pytest.raises(BlockingCallError, match=r"await add\.delay\(") as info:
        add.delay_sync(1, 2)
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(BlockingCallError, match=r"await queue\.result\("):
        queue.result_sync("x")
    with pytest.raises(BlockingCallError, match=r"options\(\.\.\.\)\.delay\("):
        add.options(priority=1).delay_sync(1, 2)
    with pytest.raises(BlockingCallError, match=r"await queue\.inspect\.counts\("):
        queue.counts_sync()


FORK_SCRIPT = textwrap.dedent("""
    import os, sys
    from asyncjobs import Queue

    queue = Queue(sys.argv[1], sys.argv[2])

    @queue.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    parent = add.delay_sync(1, 1)
    assert parent.result(timeout=20) == 2           # the pool is in use before the fork
    pid = os.fork()
    if pid == 0:
        try:
            child = add.delay_sync(20, 1)
            ok = child.result(timeout=20) == 21 and queue.job_sync(parent.id) is not None
        except BaseException as exc:
            print("child:", repr(exc), flush=True)
            ok = False
        os._exit(0 if ok else 1)
    again = add.delay_sync(300, 1)
    assert again.result(timeout=20) == 301, "the parent's pool still works"
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    print("ok", flush=True)
""")


@pytest.mark.slow
async def test_enqueue_before_and_after_fork(make_queue: Callable[..., Queue], redis_url: str,
                                             tmp_path: Path) -> None:
    queue = make_queue()
    add_tasks(queue)
    script = tmp_path / "forking.py"
    script.write_text(FORK_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    async with running_worker(queue):
        proc = await anyio.run_process([sys.executable, str(script), queue.name, redis_url],
                                       env=env, check=False, stderr=subprocess.STDOUT)
    assert proc.returncode == 0, proc.stdout.decode()
    assert proc.stdout.decode().strip() == "ok"
    assert (await queue.inspect.counts()).complete == 3
    await queue.aclose()
