"""``asyncjobs worker --reload`` as a real subprocess: an edited task runs its new code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from asyncjobs import Queue

ROOT = Path(__file__).resolve().parents[2]

APP = '''
from asyncjobs import Queue

queue = Queue("{name}")


@queue.task(name="version")
def version() -> str:
    return "{version}"


@queue.task(name="gated")
def gated(gate: str) -> str:
    import os, time
    while not os.path.exists(gate):
        time.sleep(0.02)
    return "{version}"
'''


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "asyncjobs", "worker", *args], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(predicate: Callable[[], bool], what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{log.read_text()}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_an_edit_restarts_the_worker_with_the_new_code(
    make_queue: Callable[..., Queue], redis_url: str, tmp_path: Path
) -> None:
    queue = make_queue()

    @queue.task(name="version")
    def version() -> str:
        return "producer's copy, never run"

    app_file = tmp_path / "reload_app.py"
    app_file.write_text(APP.format(name=queue.name, version="v1"))
    env = {**os.environ, "ASYNCJOBS_REDIS_URL": redis_url}
    log = tmp_path / "worker.log"
    proc = start(["reload_app:queue", "--reload", "--app-dir", str(tmp_path), "--grace", "5",
                  "--log-level", "WARNING"], env, log)
    try:
        assert version.delay_sync().result(timeout=30) == "v1"
        app_file.write_text(APP.format(name=queue.name, version="v2"))
        wait_for(lambda: version.delay_sync().result(timeout=30) == "v2", "the new code", log)
        assert "reload_app.py changed; restarting the worker" in log.read_text()
        assert f"watching {tmp_path.resolve()} for changes to Python files" in log.read_text()
    finally:
        stop(proc)
        queue.close_sync()
    assert proc.returncode == 0, log.read_text()


@pytest.mark.slow
def test_a_target_outside_the_app_directory_is_named(redis_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "ASYNCJOBS_REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
    log = tmp_path / "worker.log"
    proc = start(["examples.app:queue", "--reload", "--app-dir", str(tmp_path)], env, log)
    try:
        wait_for(lambda: "outside" in log.read_text(), "the note", log)
    finally:
        stop(proc)
    text = log.read_text()
    assert f"--reload: examples.app:queue is defined in {ROOT / 'examples' / 'app.py'}, " \
        f"outside {tmp_path.resolve()}" in text, text


def test_without_watchfiles_reload_says_what_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "watchfiles"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('watchfiles is not installed')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "asyncjobs", "worker", "app:queue", "--reload"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: --reload needs watchfiles: pip install 'asyncjobs-redis[reload]'")


@pytest.mark.slow
def test_a_running_job_finishes_across_a_reload(
    make_queue: Callable[..., Queue], redis_url: str, tmp_path: Path
) -> None:
    queue = make_queue()

    @queue.task(name="gated")
    def gated(gate: str) -> str:
        return "producer's copy, never run"

    app_file = tmp_path / "reload_app.py"
    app_file.write_text(APP.format(name=queue.name, version="v1"))
    env = {**os.environ, "ASYNCJOBS_REDIS_URL": redis_url}
    log = tmp_path / "worker.log"
    gate = tmp_path / "gate"
    proc = start(["reload_app:queue", "--reload", "--app-dir", str(tmp_path), "--grace", "20",
                  "--log-level", "WARNING"], env, log)
    try:
        job = gated.delay_sync(str(gate))
        wait_for(lambda: (info := job.info()) is not None and info.status.value == "running",
                 "the job to start", log)
        app_file.write_text(APP.format(name=queue.name, version="v2"))
        wait_for(lambda: "reload_app.py changed; restarting the worker" in log.read_text(),
                 "the reload to begin", log)
        gate.touch()  # the old worker waits for its running job, within grace
        assert job.result(timeout=30) == "v1", "it finished in the worker that started it"
        assert (info := job.info()) is not None and info.attempts == 1
        wait_for(lambda: gated.delay_sync(str(gate)).result(timeout=30) == "v2", "the new code", log)
    finally:
        stop(proc)
        queue.close_sync()
    assert proc.returncode == 0, log.read_text()
