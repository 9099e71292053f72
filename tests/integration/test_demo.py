"""``asyncjobs demo`` works on a machine with no Redis configured, and cleans up after itself."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from asyncjobs.server import free_port, ping


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ASYNCJOBS_REDIS_URL", None)
    return env


def run_demo(jobs: int, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "asyncjobs", "demo", "--jobs", str(jobs)],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def summary(out: str) -> dict[str, int]:
    """The summary's rows: label -> count."""
    return {label.strip(): int(count)
            for label, count in re.findall(r"^│ ([a-z ,-]+?)\s*│\s*(\d+) │", out, re.MULTILINE)}


@pytest.mark.slow
def test_demo_shows_every_kind_of_outcome_and_explains_it() -> None:
    out = run_demo(60, demo_env())
    port = int(re.search(r"on port (\d+)", out).group(1))  # type: ignore[union-attr]
    assert summary(out) == {
        "succeeded": 50,
        "failed on purpose": 3,
        "retried, then succeeded": 3,
        "delayed, then succeeded": 3,
        "dead-lettered": 1,
    }
    assert "as planned" in out and "unexpected" not in out
    assert "complete 56, dead 1, failed 3, retried 3" in " ".join(
        line.strip("│ ") for line in out.splitlines())
    assert "latency p99" in out and "jobs/s" in out
    assert not ping(port), "the throwaway server was stopped"


@pytest.mark.slow
def test_demo_says_when_the_configured_server_does_not_answer() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    out = run_demo(5, {**demo_env(), "ASYNCJOBS_REDIS_URL": url})
    first, second = out.splitlines()[:2]
    assert first.startswith(f"$ASYNCJOBS_REDIS_URL {url} does not answer (")
    assert first.endswith("); using a throwaway server instead")
    assert second.startswith("starting a throwaway server on port")
    assert summary(out)["succeeded"] == 1


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
