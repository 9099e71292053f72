"""What a worker logs: one line per finished job, an unreachable Redis named once, and no
ERROR at shutdown when nothing was lost."""

from __future__ import annotations

import logging

import anyio
import pytest

from asyncjobs import Queue, Retry, Worker
from asyncjobs.server import free_port
from tests.support.waiting import holds_for, wait_until

from .conftest import TEST_SETTINGS, running_worker

pytestmark = pytest.mark.anyio
CANARY = "pw-CANARY-7f3"


async def test_each_finished_job_logs_one_line(queue: Queue, caplog: pytest.LogCaptureFixture) -> None:
    tries: list[int] = []

    @queue.task(name="ok")
    async def ok() -> int:
        return 1

    @queue.task(retries=1)
    async def again() -> int:
        tries.append(1)
        if len(tries) == 1:
            raise Retry(0.01)
        return 2

    caplog.set_level(logging.INFO, logger="asyncjobs")
    async with running_worker(queue, concurrency=2):
        done, retried = await ok.delay(), await again.delay()
        assert await done.result(timeout=10) == 1
        assert await retried.result(timeout=10) == 2
    lines = {job.id: [(r.levelno, r.getMessage()) for r in caplog.records if job.id in r.getMessage()]
             for job in (done, retried)}
    assert [level for level, _ in lines[done.id]] == [logging.INFO], lines
    assert "(ok) complete in" in lines[done.id][0][1]
    assert [level for level, _ in lines[retried.id]] == [logging.INFO, logging.INFO], lines
    assert "retrying in 0.01 s" in lines[retried.id][0][1]
    assert "complete in" in lines[retried.id][1][1]


async def test_an_unreachable_redis_is_named_once_and_stopping_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    queue = Queue("down", f"redis://:{CANARY}@127.0.0.1:{port}/0", settings=TEST_SETTINGS)
    caplog.set_level(logging.DEBUG, logger="asyncjobs")
    worker = Worker(queue, grace=1.0)

    def warned() -> int:
        return sum("cannot reach Redis" in r.getMessage() for r in caplog.records)

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await wait_until(warned, 20, "the outage named")
        await holds_for(lambda: warned() == 1, 1.0, "named once while it retries")
        worker.stop()
    await queue.aclose()
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    unreachable = [m for level, m in messages if level >= logging.WARNING and "Redis" in m]
    assert len(unreachable) == 1, messages
    assert f"cannot reach Redis at redis://:***@127.0.0.1:{port}/0" in unreachable[0]
    assert "retrying" in unreachable[0]
    assert not [m for level, m in messages if level >= logging.ERROR], messages
    assert not [m for _, m in messages if CANARY in m]
