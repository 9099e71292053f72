"""``asyncjobs worker --processes N`` under faults: a child killed with SIGKILL under load, the
supervisor itself killed with SIGKILL, and a crash loop. The ledger counts every run."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.support.invariants import check_invariants
from tests.support.ledger import Ledger
from tests.support.scenario import Chaos, all_done, enqueue, started
from tests.support.supervisor import APP, ROOT
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.chaos]


@pytest.fixture
def supervisors() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Started supervisors go in this list; any still running at the end is stopped."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def supervise(started: list[subprocess.Popen[bytes]], chaos: Chaos, log: Path,
              *options: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "asyncjobs", "worker", APP, "--grace", "2", *options],
            cwd=ROOT, env=chaos.env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT)
    started.append(proc)
    return proc


def children(log: Path) -> list[tuple[int, int]]:
    """(slot, pid) of every worker process the supervisor started, in order."""
    return [(int(slot), int(pid)) for slot, pid in
            re.findall(r"worker process (\d+) started \(pid (\d+)\)", log.read_text())]


def gone(pid: int) -> bool:
    """The process has exited (a zombie not yet reaped by its new parent counts as exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


async def test_a_child_killed_under_load_is_restarted_and_no_job_is_lost(
    chaos: Chaos, supervisors: list[subprocess.Popen[bytes]], tmp_path: Path,
) -> None:
    rng = random.Random(15)
    jobs = await enqueue(chaos, "work", [(rng.randint(0, 20),) for _ in range(4000)])
    log = tmp_path / "supervisor.log"
    proc = supervise(supervisors, chaos, log, "--processes", "2", "-c", "10",
                     "--worker-id", "w")
    await wait_until(lambda: started(chaos) >= 500, 30, "500 starts", log.read_text)
    [victim] = [pid for slot, pid in children(log) if slot == 0]
    os.kill(victim, signal.SIGKILL)
    await wait_until(lambda: len(children(log)) == 3, 30, "the killed child restarted",
                     log.read_text)
    await wait_until(all_done(chaos, len(jobs)), 90, "all results", chaos.snapshot)
    ledger = Ledger.read(chaos.ledger)
    orphans = ledger.in_flight(victim)
    assert len(orphans) <= 10, "at most its concurrency was in flight"
    # every job has one stored outcome; only the killed child's jobs may have run twice
    result = await check_invariants(chaos.queue, [j.id for j in jobs], chaos.ledger,
                                    max_duplicates=len(orphans), live_workers=2)
    assert result.overlaps == 0
    text = log.read_text()
    assert f"worker process 0 (pid {victim}) was killed by SIGKILL; restarting in 0.25 s" in text
    proc.send_signal(signal.SIGTERM)
    assert await anyio.to_thread.run_sync(lambda: proc.wait(timeout=30)) == 0, log.read_text()
    assert not await chaos.queue.redis.exists(chaos.queue.keys.workers)


async def test_a_killed_supervisor_leaves_no_orphan_and_no_lost_job(
    chaos: Chaos, supervisors: list[subprocess.Popen[bytes]], tmp_path: Path,
) -> None:
    rng = random.Random(16)
    jobs = await enqueue(chaos, "work", [(rng.randint(100, 1000),) for _ in range(150)])
    log = tmp_path / "supervisor.log"
    proc = supervise(supervisors, chaos, log, "--processes", "2", "-c", "10")
    await wait_until(lambda: len({pid for runs in Ledger.read(chaos.ledger).starts.values()
                                  for pid, _, _ in runs}) == 2, 30,
                     "both children running jobs", log.read_text)
    pids = [pid for _, pid in children(log)]
    proc.kill()
    proc.wait()
    # each child sees its pipe from the supervisor close, and stops as on SIGTERM: its
    # running jobs get the 2 s grace, the rest go back to the queue
    await wait_until(lambda: all(gone(pid) for pid in pids), 15, "the children exited",
                     log.read_text)
    text = log.read_text()
    assert text.count("the supervisor is gone; stopping") == 2, text
    assert all(f"pid {pid}: the supervisor is gone" in text for pid in pids)
    done_before = started(chaos)
    # whatever they did not finish, a new worker does: nothing lost, each outcome stored once
    chaos.supervisor.spawn(0)
    await wait_until(all_done(chaos, len(jobs)), 90, "all results", chaos.snapshot)
    ledger = Ledger.read(chaos.ledger)
    orphans = ledger.in_flight(pids[0]) | ledger.in_flight(pids[1])
    await check_invariants(chaos.queue, [j.id for j in jobs], chaos.ledger,
                           max_duplicates=len(orphans), live_workers=1,
                           supervisor=chaos.supervisor)
    assert started(chaos) > done_before, "the new worker ran what was left"


def test_a_crash_loop_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "asyncjobs", "worker", "tests.apps.broken:queue",
         "--processes", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1
    # the children share the supervisor's stderr: one stopped by the supervisor's SIGTERM
    # while it printed its traceback may leave a line cut short, which the error then ends
    errors = re.findall(r"error: [^\n]*", proc.stderr)
    assert len(errors) == 1, proc.stderr
    assert re.fullmatch(r"error: crash loop: worker process [01] died 5 times within 60 s "
                        r"\(last: exited with code 1\); stopping", errors[0]), errors
    assert proc.stderr.rstrip().endswith(errors[0])
    assert proc.stderr.count("restarting in") >= 4
