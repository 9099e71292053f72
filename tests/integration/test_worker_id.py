"""``asyncjobs worker --worker-id``: the worker registers under the name it is given."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from asyncjobs import Queue
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def worker(*options: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "asyncjobs", "worker", "tests.apps.app:queue", *options],
        cwd=ROOT, env=env, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


async def test_the_worker_registers_under_the_given_id(queue: Queue, redis_url: str) -> None:
    env = {**os.environ, "ASYNCJOBS_REDIS_URL": redis_url, "ASYNCJOBS_TEST_QUEUE": queue.name}
    proc = worker("--worker-id", "named-7", env=env)
    try:
        await wait_until(lambda: queue.redis.zscore(queue.keys.workers, "named-7"), 30,
                         "a worker registered as named-7")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert await queue.redis.zcard(queue.keys.workers) == 0


def test_a_bad_worker_id_is_one_line_and_exit_2() -> None:
    proc = worker("--worker-id", "a b")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip() == "error: worker id 'a b' must match [A-Za-z0-9_.-]{1,128}"
