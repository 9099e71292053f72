"""A worker process's Prometheus metrics (``--metrics-port``), scraped over HTTP and parsed,
and its JSON log lines (``--log-format json``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from asyncjobs import JobFailed, Queue
from asyncjobs.server import free_port
from tests.support.waiting import wait_until

from .conftest import TEST_SETTINGS

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
APP = "tests.apps.observed:queue"


@pytest.fixture
async def app_queue(redis_url: str) -> AsyncIterator[Queue]:
    from tests.apps import observed

    queue = Queue(f"t-{uuid.uuid4().hex[:12]}", redis_url, settings=TEST_SETTINGS)
    for task in observed.queue.tasks.values():
        queue.task(name=task.name, retries=task.retry.retries)(task.fn)
    yield queue
    await queue.aclose()


@contextmanager
def worker_process(queue: Queue, *options: str, log: Path, app: str = APP,
                   **environ: str) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ, ASYNCJOBS_REDIS_URL=queue.settings.redis_url,
               ASYNCJOBS_TEST_QUEUE=queue.name, **environ)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "asyncjobs", "worker", app, *options],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def run_jobs(queue: Queue) -> tuple[str, str, str]:
    double, broken, again = (queue.tasks[name] for name in ("double", "broken", "again"))
    for n in range(5):
        assert await (await double.delay(n)).result(timeout=20) == 2 * n
    failed = await broken.delay(1)
    with pytest.raises(JobFailed):
        await failed.result(timeout=20)
    retried = await again.delay()
    assert await retried.result(timeout=20) == 2
    ok = await double.delay(10)
    await ok.result(timeout=20)
    return ok.id, failed.id, retried.id


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_a_worker_serves_prometheus_metrics(app_queue: Queue, tmp_path: Path) -> None:
    port = free_port()
    q = app_queue.name
    with worker_process(app_queue, "--metrics-port", str(port), log=tmp_path / "log") as proc:
        await run_jobs(app_queue)

        async def scraped() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            try:
                return await anyio.to_thread.run_sync(scrape, port)
            except OSError:
                assert proc.poll() is None, (tmp_path / "log").read_text()
                return None

        await wait_until(scraped, 20, "the metrics endpoint")
        samples = await scraped()
        assert samples is not None

        def value(name: str, **labels: str) -> float:
            return samples.get((name, tuple(sorted(labels.items()))), 0.0)

        assert value("asyncjobs_jobs_started_total", queue=q, task="double") == 6
        assert value("asyncjobs_jobs_finished_total", queue=q, task="double", outcome="complete") == 6
        assert value("asyncjobs_jobs_finished_total", queue=q, task="broken", outcome="failed") == 1
        assert value("asyncjobs_jobs_finished_total", queue=q, task="again", outcome="retried") == 1
        assert value("asyncjobs_job_retries_total", queue=q, task="again") == 1
        assert value("asyncjobs_jobs_started_total", queue=q, task="again") == 2
        assert value("asyncjobs_job_duration_seconds_count", queue=q, task="double") == 6
        assert value("asyncjobs_job_wait_seconds_count", queue=q, task="again") == 1, "first attempts"
        assert value("asyncjobs_job_wait_seconds_bucket", queue=q, task="double", le="+Inf") == 6
        assert value("asyncjobs_jobs_running") == 0
        assert ("asyncjobs_redis_errors_total", ()) not in samples


def test_metrics_without_the_extra_is_one_clear_line(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "prometheus_client.py").write_text("raise ImportError('not installed')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-m", "asyncjobs", "worker", APP, "--metrics-port", "0"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: --metrics-port needs prometheus-client: "
                                   "pip install 'asyncjobs-redis[metrics]'")


async def test_json_logs_carry_the_job_fields(app_queue: Queue, tmp_path: Path) -> None:
    log = tmp_path / "log"
    with worker_process(app_queue, "--log-format", "json", log=log):
        ok, failed, retried = await run_jobs(app_queue)

        def lines() -> list[dict[str, object]]:
            return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

        await wait_until(lambda: any(line.get("job_id") == ok for line in lines()), 20,
                         "the last job's line", dump=log.read_text)
    every = lines()  # each line is one JSON object (json.loads raised otherwise)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in every)
    [done] = [line for line in every if line.get("job_id") == ok]
    assert done["level"] == "INFO" and done["logger"] == "asyncjobs.worker.executor"
    assert (done["queue"], done["task"], done["attempt"], done["outcome"]) == (
        app_queue.name, "double", 1, "complete")
    assert isinstance(done["duration"], float) and "complete in" in str(done["message"])
    [bad] = [line for line in every if line.get("job_id") == failed]
    assert (bad["level"], bad["outcome"], bad["task"]) == ("WARNING", "failed", "broken")
    assert [line["outcome"] for line in every if line.get("job_id") == retried] == [
        "retried", "complete"]
    assert any("concurrency" in str(line["message"]) for line in every), "the worker's own lines"


async def test_the_apps_own_logging_configuration_wins(app_queue: Queue, tmp_path: Path) -> None:
    log = tmp_path / "log"
    with worker_process(app_queue, "--log-format", "json", log=log,
                        app="tests.apps.own_logging:queue"):
        job = await app_queue.tasks["double"].delay(4)
        assert await job.result(timeout=20) == 8
        line = f"own-format INFO asyncjobs.worker.executor: job {job.id} (double) complete in"
        await wait_until(lambda: line in log.read_text(), 20, "the job's line in the app's format",
                         dump=log.read_text)
    assert not any(text.startswith("{") for text in log.read_text().splitlines()), "no JSON"
