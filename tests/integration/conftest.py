"""Fixtures of the integration tier: a real Redis-compatible server the suite starts itself, and
fresh queues.

The server comes from ``$ASYNCJOBS_REDIS_URL`` (used as is, never flushed), else it is started
on a free loopback port from ``$ASYNCJOBS_REDIS_SERVER``, ``redis-server``/``valkey-server`` on
PATH, or the bundled Valkey. With ``ASYNCJOBS_TEST_CLUSTER=1`` the tier runs against a Redis
Cluster of 3 masters and 3 replicas started the same way (``redis_url`` is its
``redis+cluster://`` URL); a test that cannot apply to a cluster is marked ``single_server``
and skipped there. Tests are isolated by queue name, never by flushing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from asyncjobs import Queue, Settings, Worker
from asyncjobs.server import ClusterServers, RedisServer
from tests.support.servers import SentinelSet

ON_CLUSTER = os.environ.get("ASYNCJOBS_TEST_CLUSTER") == "1"
TEST_SETTINGS = Settings(heartbeat_interval=0.4, heartbeat_ttl=2.0, reaper_interval=0.5)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    external = os.environ.get("ASYNCJOBS_REDIS_URL")
    if external:
        yield external
        return
    server = ClusterServers().start() if ON_CLUSTER else RedisServer().start()
    try:
        yield server.url
    finally:
        server.cleanup()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not ON_CLUSTER:
        return
    for item in items:
        marker = item.get_closest_marker("single_server")
        if marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(pytest.mark.skip(reason=f"not on a cluster: {reason}"))


@pytest.fixture(scope="module")
def sentinels() -> Iterator[SentinelSet]:
    """A master, its replica and three sentinels of the module's own (tests that use it are
    ``single_server``)."""
    started = SentinelSet().start()
    try:
        yield started
    finally:
        started.cleanup()


@pytest.fixture
def make_queue(redis_url: str) -> Callable[..., Queue]:
    def make(**overrides: Any) -> Queue:
        from dataclasses import replace

        settings = replace(TEST_SETTINGS, **overrides)
        return Queue(f"t-{uuid.uuid4().hex[:12]}", redis_url, settings=settings)

    return make


@pytest.fixture
async def queue(make_queue: Callable[..., Queue]) -> AsyncIterator[Queue]:
    q = make_queue()
    yield q
    await q.aclose()


@asynccontextmanager
async def running_worker(queue: Queue | list[Queue], **options: Any) -> AsyncIterator[Worker]:
    """A worker running in this event loop for the duration of the block."""
    worker = Worker(queue, **{"grace": 2.0, **options})
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        try:
            yield worker
        finally:
            worker.stop(now=True)

