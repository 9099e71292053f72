"""The benchmark harness runs end to end: the driver measures every workload for asyncjobs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncjobs.server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
BULLMQ_MISSING = (shutil.which("node") is None
                  or not (ROOT / "benchmarks/peers/node/node_modules/bullmq").is_dir())


@pytest.fixture
def own_server() -> Iterator[str]:
    """A server of this test's own: the driver flushes the server it is given."""
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.cleanup()


@pytest.mark.parametrize("system", [
    "asyncjobs",
    # its producer and worker in Node: `npm ci` in benchmarks/peers/node (the harness runs it)
    pytest.param("bullmq", marks=pytest.mark.skipif(BULLMQ_MISSING, reason="no node or no npm ci")),
])
def test_the_peer_driver_measures_every_workload(own_server: str, system: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.peers.driver", system, own_server,
         "--jobs", "300", "--latency-jobs", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.splitlines()[-1])
    for key in ("enqueue_one_jobs_per_s", "enqueue_bulk_jobs_per_s", "drain_jobs_per_s",
                "sleep_jobs_wall_s", "redis_bytes_per_pending_job", "stored_bytes_one_job",
                "enqueue_at_once_jobs_per_s", "lookup_drain_jobs_per_s", "echo_drain_jobs_per_s"):
        assert figures[key] > 0, key
    for key in ("worker_cpu_s_per_1000_jobs", "redis_cpu_s_per_1000_jobs",
                "enqueue_one_redis_us_per_job", "enqueue_at_once_redis_us_per_job"):
        # measured, but a few hundred jobs are within the noise of the startup baseline
        assert isinstance(figures[key], float), key
    assert 0 < figures["pickup_ms"]["p50"] <= figures["end_to_end_ms"]["p99"]


def test_the_driver_refuses_the_default_port() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.peers.driver", "asyncjobs", "redis://127.0.0.1:6379"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0 and "not port 6379" in proc.stderr


def test_the_multi_queue_pickup_benchmark_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.multi", "--jobs", "20", "--runs", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| 1 queue")
            or line.startswith("| 3 queues")]
    assert len(rows) == 2, proc.stdout


def test_the_priorities_benchmark_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.priorities", "--runs", "1", "--jobs", "300",
         "--latency-jobs", "10"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| priorit")]
    assert len(rows) == 2, proc.stdout


def test_the_flow_control_benchmark_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.flow", "--seconds", "1", "--rates", "50",
         "--jobs", "300", "--runs", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    [rate] = [line for line in proc.stdout.splitlines() if line.startswith("| 50/s")]
    starts = float(rate.split("|")[2])
    assert 30 <= starts <= 60, proc.stdout  # the limit's order of magnitude, not a benchmark
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("| no limit", "| key_"))]
    assert len(rows) == 2, proc.stdout


def test_the_workflows_benchmark_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.workflows", "--runs", "1", "--jobs", "300"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("| W2", "| 3-step",
                                                                          "| independent",
                                                                          "| progress"))]
    assert len(rows) == 7, proc.stdout  # the drains give two figures each


def test_the_processes_benchmark_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.processes", "--jobs", "300", "--burn-jobs", "100",
         "--burn-ms", "0.5"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("|") for line in proc.stdout.splitlines()
            if line.startswith(("| 300 no-op", "| 100 jobs of 0.5 ms"))]
    assert sorted(int(row[2]) for row in rows) == [1, 1, 2, 2], proc.stdout
    burns = [float(row[4]) for row in rows if "0.5 ms" in row[1]]
    assert all(cpu >= 0.25 for cpu in burns), proc.stdout  # 0.5 ms a job, in 10 ms ticks
    assert proc.stdout.count("--processes 2 drains") == 2, proc.stdout


@pytest.mark.single_server("starts its own servers")
@pytest.mark.parametrize(("module", "rows_start", "count"), [
    ("benchmarks.replicas", ("| 1 |", "| 50 |"), 4),  # a master and its replica
    ("benchmarks.loops", ("| asyncio", "| uvloop"), 2),
])
def test_the_replicas_and_event_loop_benchmarks_run(
    module: str, rows_start: tuple[str, ...], count: int,
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", module, "--rounds", "1", "--jobs", "200"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith(rows_start)]
    assert len(rows) == count, proc.stdout


@pytest.mark.single_server("starts its own cluster")
def test_the_shards_benchmark_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.shards", "--rounds", "1", "--jobs", "300"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("shards=")]
    assert [row.split(":")[0] for row in rows] == ["shards=1", "shards=3"], proc.stdout
    assert "busiest master, shards=3 / shards=1:" in proc.stdout
