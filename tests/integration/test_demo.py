"""``asyncjobs demo`` works on a machine with no Redis configured, and cleans up after itself."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from asyncjobs.server import ping


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ASYNCJOBS_REDIS_URL", None)
    return env


@pytest.mark.slow
def test_demo_runs_jobs_and_prints_a_summary() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "asyncjobs", "demo", "--jobs", "60"],
        capture_output=True, text=True, timeout=120, env=demo_env(),
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    port = int(re.search(r"on port (\d+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"jobs done\s*│\s*(\d+)", out).group(1))  # type: ignore[union-attr]
    failed = sum(int(n) for n in re.findall(r"failed \(.*?\)\s*│\s*(\d+)", out))
    assert done + failed == 60 and done > 0
    assert "latency p99" in out and "jobs/s" in out
    assert not ping(port), "the throwaway server was stopped"


@pytest.mark.slow
def test_sigterm_stops_the_demo_and_its_server() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "asyncjobs", "demo", "--jobs", "100000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=demo_env(),
    ) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = int(re.search(r"on port (\d+)", line).group(1))  # type: ignore[union-attr]
        deadline = time.monotonic() + 10
        while not ping(port):  # a polled condition with a deadline
            assert time.monotonic() < deadline, "the demo's server never answered"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode in (130, 143)  # stopped by the signal, after cleaning up
    assert not ping(port)
