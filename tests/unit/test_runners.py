"""The runners run every job handed to them, at most ``limit`` at once, and jobs that wait all
start together (worker/runners.py)."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from asyncjobs.worker.runners import Runners

pytestmark = pytest.mark.anyio


async def test_jobs_that_wait_all_start_up_to_the_limit_and_the_rest_as_they_end() -> None:
    started: list[int] = []
    ended: list[int] = []
    release = anyio.Event()

    async def job(n: int) -> None:
        started.append(n)
        await release.wait()
        ended.append(n)

    async with anyio.create_task_group() as group:
        runners = Runners(50, group, job)
        for n in range(80):
            runners.start(n)
        await anyio.wait_all_tasks_blocked()
        assert sorted(started) == list(range(50))  # the limit, in order
        release.set()
        await anyio.wait_all_tasks_blocked()
        assert sorted(ended) == list(range(80))
        group.cancel_scope.cancel()


async def test_jobs_handed_over_in_waves_all_run() -> None:
    ran: list[int] = []

    async def job(n: int) -> None:
        if n % 3 == 0:
            await anyio.lowlevel.checkpoint()  # some wait a turn, some never wait
        ran.append(n)

    async with anyio.create_task_group() as group:
        runners = Runners(10, group, job)
        for wave in range(20):
            for n in range(wave * 37, (wave + 1) * 37):
                runners.start(n)
            if wave % 2:
                await anyio.wait_all_tasks_blocked()
        await anyio.wait_all_tasks_blocked()
        assert sorted(ran) == list(range(20 * 37))
        group.cancel_scope.cancel()
