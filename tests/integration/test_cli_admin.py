"""The operator's commands as a user runs them: subprocesses of ``asyncjobs`` against a real
server, their JSON, their tables, and one clear line with the right exit code on failure."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from asyncjobs import Context, JobFailed, Queue
from asyncjobs.server import free_port

from .conftest import running_worker

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
CANARY = "pw-CANARY-42"


def run(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ASYNCJOBS_REDIS_URL"}
    if url is not None:
        env["ASYNCJOBS_REDIS_URL"] = url
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "asyncjobs", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: ") and text in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert CANARY not in proc.stderr


async def test_info_jobs_and_job_as_json_and_tables(queue: Queue, redis_url: str) -> None:
    @queue.task(name="boom")
    async def boom(ctx: Context, n: int) -> None:
        await ctx.progress(0.75, "almost")
        ctx.log(f"about to fail on {n}")
        raise ValueError(f"bad {n}")

    async with running_worker(queue, worker_id="cli-worker"):
        job = await boom.delay(3)
        with pytest.raises(JobFailed):
            await job.result(timeout=10)
        proc = run("workers", queue.name, "--json", url=redis_url)
        [worker] = json.loads(proc.stdout)["workers"]
        assert worker == {"queue": queue.name, "id": "cli-worker", "alive": True, "running": 0,
                          "last_beat": worker["last_beat"], "host": socket.gethostname(),
                          "pid": os.getpid(), "started": worker["started"], "queues": [queue.name]}
        assert worker["started"] <= worker["last_beat"]
        table = run("workers", queue.name, url=redis_url).stdout
        assert all(text in table for text in ("cli-worker", socket.gethostname(), str(os.getpid())))
    proc = run("info", queue.name, "--json", url=redis_url)
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(proc.stdout)["queues"]
    assert (row["name"], row["failed"], row["pending"], row["paused"]) == (queue.name, 1, 0, False)
    proc = run("jobs", queue.name, "--status", "failed", "--json", "--url", redis_url)
    assert [j["id"] for j in json.loads(proc.stdout)["jobs"]] == [job.id]
    proc = run("job", queue.name, job.id, "--json", url=redis_url)
    detail = json.loads(proc.stdout)["job"]
    assert (detail["args"], detail["failure"]["type"]) == ([3], "ValueError")
    assert (detail["progress"], detail["progress_message"]) == (0.75, "almost")
    assert [line for _, line in detail["logs"]] == ["about to fail on 3"]
    proc = run("job", queue.name, job.id, url=redis_url)
    assert proc.returncode == 0
    assert "ValueError: bad 3" in proc.stdout and "Traceback" in proc.stdout
    assert "75%  almost" in proc.stdout and "about to fail on 3" in proc.stdout
    proc = run("info", url=redis_url)
    assert proc.returncode == 0 and queue.name in proc.stdout
    proc = run("retry", queue.name, job.id, "--json", url=redis_url)
    assert json.loads(proc.stdout)["job"]["status"] == "queued"
    proc = run("pause", queue.name, url=redis_url)
    assert proc.returncode == 0 and await queue.is_paused()


async def test_dead_cancel_and_resume_as_commands(make_queue: Callable[..., Queue],
                                                  redis_url: str) -> None:
    served = make_queue()
    producer = Queue(served.name, redis_url, settings=served.settings)

    @producer.task(name="later")
    async def later(n: int) -> int:
        return n

    @producer.task(name="other")
    async def other(n: int) -> int:
        return n

    try:
        jobs = [await later.delay(n) for n in range(3)]
        async with running_worker(served):  # it knows neither task: three dead letters
            for job in jobs:
                with pytest.raises(JobFailed):
                    await job.result(timeout=10)
        name = served.name
        proc = run("dead", name, "--limit", "2", "--json", url=redis_url)
        letters = json.loads(proc.stdout)["dead_letters"]
        assert [(d["job_id"], d["reason"]) for d in letters] \
            == [(jobs[2].id, "unknown_task"), (jobs[1].id, "unknown_task")], "newest first"
        assert "unknown_task" in run("dead", name, url=redis_url).stdout
        proc = run("dead", name, "--requeue", "--limit", "1", "--json", url=redis_url)
        assert json.loads(proc.stdout) == {"queue": name, "requeued": 1}
        proc = run("dead", name, "--purge", "--json", url=redis_url)
        assert json.loads(proc.stdout) == {"queue": name, "purged": 2}
        assert json.loads(run("dead", name, "--json", url=redis_url).stdout)["dead_letters"] == []
        waiting = [await later.delay(n) for n in range(3)] + [await other.delay(9)]
        proc = run("jobs", name, "--status", "queued", "--task", "later", "--limit", "2",
                   "--json", url=redis_url)
        assert [j["id"] for j in json.loads(proc.stdout)["jobs"]] == [jobs[0].id, waiting[0].id]
        proc = run("cancel", name, waiting[1].id, "--json", url=redis_url)
        assert proc.returncode == 0 and json.loads(proc.stdout)["job"]["status"] == "cancelled"
        assert run("pause", name, url=redis_url).returncode == 0 and await served.is_paused()
        proc = run("resume", name, "--json", url=redis_url)
        assert json.loads(proc.stdout) == {"queue": name, "paused": False}
        assert not await served.is_paused()
    finally:
        await producer.aclose()
        await served.aclose()


async def test_errors_are_one_line_with_exit_codes(queue: Queue, redis_url: str) -> None:
    @queue.task
    async def noop() -> None:
        pass

    await noop.delay()
    one_line_error(run("info", "no-such-queue", url=redis_url), 1, "no queue named 'no-such-queue'")
    one_line_error(run("job", queue.name, "nope", url=redis_url), 1, "has no job 'nope'")
    one_line_error(run("cancel", queue.name, "nope", url=redis_url), 1, "has no job 'nope'")
    one_line_error(run("jobs", queue.name, "--status", "complete", url=redis_url), 2,
                   "status must be one of")
    one_line_error(run("info", "bad{name}", url=redis_url), 2, "queue name")
    one_line_error(run("info", url="nope://x"), 2, "bad Redis URL")
    down = f"redis://:{CANARY}@127.0.0.1:{free_port()}/0"
    one_line_error(run("workers", url=down), 2, "cannot reach Redis at redis://:***@127.0.0.1")
    one_line_error(run("dead", queue.name, "--requeue", "--purge", url=redis_url), 2, "exclude")
