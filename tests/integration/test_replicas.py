"""``Settings(enqueue_replicas=N)``: an enqueue returns only once N replicas have the job; with
fewer within ``replica_timeout`` it raises ``EnqueueError``, and the job stays on the master."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import replace

import anyio
import pytest
import redis

from asyncjobs import ConfigError, EnqueueError, Queue, Settings
from tests.support.servers import SentinelSet

from .conftest import ON_CLUSTER, TEST_SETTINGS, running_worker

pytestmark = pytest.mark.anyio

CONFIRMED = {"enqueue_replicas": 1, "replica_timeout": 0.5}


def test_bad_replica_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="enqueue_replicas must be 0 or more"):
        Settings(enqueue_replicas=-1)
    with pytest.raises(ConfigError, match=r"replica_timeout \(3.0\) must be positive and below"):
        Settings(enqueue_replicas=1, replica_timeout=3.0, socket_timeout=3.0)
    with pytest.raises(ConfigError, match=r"and enqueue_timeout \(1.0\)"):
        Settings(enqueue_replicas=1, replica_timeout=1.0, enqueue_timeout=1.0)


@pytest.mark.single_server("starts its own sentinel set")
async def test_every_enqueue_path_waits_for_a_replica_and_says_when_none_confirms(
    sentinels: SentinelSet,
) -> None:
    queue = Queue("replicated", sentinels.url, settings=replace(TEST_SETTINGS, **CONFIRMED))

    @queue.task(name="double")
    async def double(n: int) -> int:
        return 2 * n

    try:
        one = await double.delay(1)
        many = await queue.enqueue_many([double.call(n) for n in (2, 3)])
        blocking = await anyio.to_thread.run_sync(lambda: double.delay_sync(4))
        with redis.Redis(port=sentinels.replica.port) as replica:  # each is there already
            for job_id in (one.id, *(job.id for job in many), blocking.id):
                assert replica.hexists(queue.keys.queued, job_id)
        # a replica that does not answer: the enqueue says so, and the job is on the master
        replica_pid = sentinels.replica.process.pid  # type: ignore[union-attr]
        os.kill(replica_pid, signal.SIGSTOP)
        try:
            with pytest.raises(EnqueueError, match=r"0 of 1 replica\(s\) confirmed the job\(s\) "
                                                   r"within 0.5 s .*same job_id is safe"):
                await double.options(job_id="unconfirmed").delay(5)
            with pytest.raises(EnqueueError, match="0 of 1 replica"):
                await anyio.to_thread.run_sync(lambda: double.delay_sync(6))
        finally:
            os.kill(replica_pid, signal.SIGCONT)
        again = await double.options(job_id="unconfirmed").delay(5)  # confirmed now
        async with running_worker(queue, concurrency=4):
            assert [await job.result(timeout=10) for job in (one, *many, again)] == [2, 4, 6, 10]
    finally:
        queue.close_sync()
        await queue.aclose()


async def test_the_test_server_confirms_as_many_replicas_as_it_has(
    make_queue: Callable[..., Queue],
) -> None:
    queue = make_queue(**CONFIRMED)

    @queue.task
    async def noop() -> None:
        return None

    try:
        if ON_CLUSTER:  # each master of the test cluster has a replica
            await noop.delay()
            await queue.enqueue_many([noop.call() for _ in range(3)])
            await anyio.to_thread.run_sync(lambda: noop.delay_sync())
            assert await queue.inspect.pending_count() == 5
        else:  # the single test server has none
            with pytest.raises(EnqueueError, match="0 of 1 replica"):
                await noop.delay()
    finally:
        queue.close_sync()
        await queue.aclose()
