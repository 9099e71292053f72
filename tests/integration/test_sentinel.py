"""A ``redis+sentinel://`` URL: producers and workers find the master through the sentinels."""

from __future__ import annotations

import anyio
import pytest

from asyncjobs import Queue
from tests.support.servers import SentinelSet

from .conftest import TEST_SETTINGS, running_worker

pytestmark = [pytest.mark.anyio, pytest.mark.single_server("starts its own sentinel set")]


async def test_a_sentinel_url_runs_jobs_end_to_end(sentinels: SentinelSet) -> None:
    queue = Queue("sentinel-e2e", sentinels.url, settings=TEST_SETTINGS)

    @queue.task(name="square")
    async def square(n: int) -> int:
        return n * n

    try:
        async with running_worker(queue, concurrency=4):
            jobs = [await square.delay(n) for n in range(10)]
            assert [await job.result(timeout=10) for job in jobs] == [n * n for n in range(10)]
            # and the blocking producer, from a thread
            assert await anyio.to_thread.run_sync(
                lambda: square.delay_sync(12).result(timeout=10)) == 144
        assert (await queue.inspect.counts()).complete == 11
    finally:
        queue.close_sync()
        await queue.aclose()
