"""``asyncjobs worker --processes N``: a supervisor and its worker processes, run as real
subprocesses. The fault cases (kill -9, a killed supervisor, a crash loop) are in
tests/chaos/test_processes.py."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from asyncjobs import JobStatus, Queue
from asyncjobs.server import free_port
from tests.support.waiting import wait_until

from .conftest import TEST_SETTINGS

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
APP = "tests.apps.app:queue"


@pytest.fixture
def app_env(redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    yield dict(os.environ, ASYNCJOBS_REDIS_URL=redis_url,
               ASYNCJOBS_TEST_QUEUE=f"t-{uuid.uuid4().hex[:12]}",
               ASYNCJOBS_TEST_LEDGER=str(tmp_path / "ledger"))


@pytest.fixture
async def app_queue(app_env: dict[str, str]) -> AsyncIterator[Queue]:
    from tests.apps import app

    queue = Queue(app_env["ASYNCJOBS_TEST_QUEUE"], app_env["ASYNCJOBS_REDIS_URL"],
                  settings=TEST_SETTINGS)
    for task in app.queue.tasks.values():
        queue.task(name=task.name, timeout=task.timeout)(task.fn)
    yield queue
    await queue.aclose()


@pytest.fixture
def supervisor(app_env: dict[str, str], tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Started supervisors go in this list; any still running at the end is killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def start(started: list[subprocess.Popen[str]], env: dict[str, str], log: Path,
          *options: str) -> subprocess.Popen[str]:
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "asyncjobs", "worker", APP, *options],
                                cwd=ROOT, env=env, text=True, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
    started.append(proc)
    return proc


def ledger(env: dict[str, str]) -> list[list[str]]:
    path = Path(env["ASYNCJOBS_TEST_LEDGER"])
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


async def members(queue: Queue) -> set[str]:
    return {m.decode() for m in await queue.redis.zrange(queue.keys.workers, 0, -1)}


async def test_two_processes_share_a_backlog_each_with_its_own_worker_id(
    app_env: dict[str, str], app_queue: Queue, supervisor: list[subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    proc = start(supervisor, app_env, log, "--processes", "2", "-c", "5", "--worker-id", "w")

    async def registered() -> bool:
        assert proc.poll() is None, log.read_text()
        return await members(app_queue) == {"w-0", "w-1"}

    await wait_until(registered, 30, "both worker processes registered", log.read_text)
    sleepy = app_queue.tasks["sleepy"]
    jobs = await app_queue.enqueue_many([sleepy.call(0.02) for _ in range(200)])
    for job in jobs:
        assert await job.result(timeout=30) == 0.02
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()
    runs = Counter(line[1] for line in ledger(app_env) if line[0] == "S")
    assert set(runs) == {job.id for job in jobs} and set(runs.values()) == {1}
    pids = Counter(line[2] for line in ledger(app_env) if line[0] == "S")
    assert len(pids) == 2, f"both processes took jobs: {pids}"
    assert await members(app_queue) == set()
    assert (await app_queue.inspect.stats()).get("duplicate_completions", 0) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_to_the_supervisor_lets_every_child_finish_its_jobs(
    app_env: dict[str, str], app_queue: Queue, supervisor: list[subprocess.Popen[str]],
    tmp_path: Path, signum: signal.Signals,
) -> None:
    log = tmp_path / "log"
    proc = start(supervisor, app_env, log, "--processes", "2", "-c", "4", "--grace", "30")
    async def registered() -> bool:
        return len(await members(app_queue)) == 2

    await wait_until(registered, 30, "both worker processes registered", log.read_text)
    sleepy = app_queue.tasks["sleepy"]
    jobs = await app_queue.enqueue_many([sleepy.call(1.0) for _ in range(8)])

    def running() -> dict[str, set[str]]:
        by_pid: dict[str, set[str]] = {}
        for kind, job_id, pid in ledger(app_env):
            if kind == "S":
                by_pid.setdefault(pid, set()).add(job_id)
        return by_pid

    # 8 jobs, at most 4 at once per process: both have jobs in flight
    await wait_until(lambda: sum(map(len, running().values())) == 8, 30, "8 jobs started",
                     log.read_text)
    assert len(running()) == 2
    proc.send_signal(signum)
    code = await anyio.to_thread.run_sync(lambda: proc.wait(timeout=30))
    assert code == 0, log.read_text()
    ends = Counter(job_id for kind, job_id, _ in ledger(app_env) if kind == "E")
    assert ends == Counter(job.id for job in jobs), "every job in flight finished, once"
    for job in jobs:
        info = await job.info()
        assert info is not None and info.status is JobStatus.COMPLETE
    assert await app_queue.inspect.pending_count() == 0
    assert await members(app_queue) == set()
    text = log.read_text()
    assert text.count(f"{signum.name}, stopping (grace 30 s)") == 2, text  # passed on once
    assert "all 2 worker processes exited" in text


async def test_burst_children_exit_once_the_queue_is_empty_and_so_does_the_supervisor(
    app_env: dict[str, str], app_queue: Queue, tmp_path: Path,
) -> None:
    square = app_queue.tasks["square"]
    jobs = await app_queue.enqueue_many([square.call(n) for n in range(100)])
    proc = await anyio.run_process(
        [sys.executable, "-m", "asyncjobs", "worker", APP, "--processes", "2", "--burst"],
        cwd=ROOT, env=app_env, check=False, stdin=subprocess.DEVNULL,
    )
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    assert [await job.result(timeout=1) for job in jobs] == [n * n for n in range(100)]
    assert "restarting" not in stderr
    assert "all 2 worker processes exited" in stderr


async def test_each_process_serves_metrics_on_its_own_port(
    app_env: dict[str, str], app_queue: Queue, supervisor: list[subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    pytest.importorskip("prometheus_client")
    port = _two_free_ports()
    log = tmp_path / "log"
    proc = start(supervisor, app_env, log, "--processes", "2", "--metrics-port", str(port))

    def scraped(at: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{at}/metrics", timeout=5) as reply:
                return b"asyncjobs_jobs_running" in reply.read()
        except OSError:
            assert proc.poll() is None, log.read_text()
            return False

    for at in (port, port + 1):
        await wait_until(lambda at=at: anyio.to_thread.run_sync(scraped, at), 30,
                         f"metrics on port {at}", log.read_text)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--processes", "0"), "error: --processes must be at least 1, got 0"),
        (("--processes", "2", "--reload"),
         "error: --reload runs one worker process: leave out --processes, or give --processes 1"),
        (("--processes", "3", "--metrics-port", "65534"),
         "error: --metrics-port 65534 with --processes 3 needs ports up to 65536, past 65535"),
    ],
)
def test_bad_process_options_are_one_line(options: tuple[str, ...], expected: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "asyncjobs", "worker", APP, *options], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == expected


def test_a_target_that_cannot_be_imported_stops_the_supervisor_at_once() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "asyncjobs", "worker", "tests.apps.nope:queue", "--processes", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors[-1].startswith("error: worker process ") and errors[-1].endswith(
        "exited with code 2: bad input, see its error above; stopping"), proc.stderr
    assert set(errors[:-1]) == {
        "error: cannot import 'tests.apps.nope': no module named 'tests.apps.nope'"}
    assert "Traceback" not in proc.stderr
    assert "restarting" not in proc.stderr


def _two_free_ports() -> int:
    """A port that is free, with the next one, on every interface (where metrics are served)."""
    for _ in range(100):
        port = free_port()
        with contextlib.ExitStack() as held:
            try:
                for at in (port, port + 1):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("", at))
            except OSError:
                continue
        return port
    raise AssertionError("no two free ports in a row")

