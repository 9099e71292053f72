"""Fixtures of the chaos suite: a fresh AOF server per test, worker subprocesses, a ledger.

Every test here is in the ``chaos`` tier unless it is marked ``soak``; ``pytest`` alone runs
neither (see ``addopts`` in pyproject.toml).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from asyncjobs import Queue
from tests.support.scenario import Chaos
from tests.support.servers import RedisProc
from tests.support.supervisor import Supervisor

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE) and item.get_closest_marker("soak") is None:
            item.add_marker(pytest.mark.chaos)


@pytest.fixture
def redis_proc() -> Iterator[RedisProc]:
    server = RedisProc()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis_proc_no_aof() -> Iterator[RedisProc]:
    server = RedisProc(appendonly=False)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis_proc_fsync_always() -> Iterator[RedisProc]:
    server = RedisProc(fsync="always")
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
async def chaos_fsync_always(
    redis_proc_fsync_always: RedisProc, tmp_path: Path
) -> AsyncIterator[Chaos]:
    """A scenario whose server keeps every write it acknowledged, also through a SIGKILL."""
    async with chaos_on(redis_proc_fsync_always, tmp_path) as state:
        yield state


@pytest.fixture
async def chaos(redis_proc: RedisProc, tmp_path: Path) -> AsyncIterator[Chaos]:
    async with chaos_on(redis_proc, tmp_path) as state:
        yield state


@pytest.fixture
async def chaos_no_aof(redis_proc_no_aof: RedisProc, tmp_path: Path) -> AsyncIterator[Chaos]:
    async with chaos_on(redis_proc_no_aof, tmp_path) as state:
        yield state


@asynccontextmanager
async def chaos_on(redis_proc: RedisProc, tmp_path: Path) -> AsyncIterator[Chaos]:
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    name = f"chaos-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "ASYNCJOBS_REDIS_URL": redis_proc.url,
        "ASYNCJOBS_CHAOS_QUEUE": name,
        "ASYNCJOBS_CHAOS_LEDGER": str(ledger),
    }
    supervisor = Supervisor(env, tmp_path)
    state = Chaos(redis_proc, Queue(name, redis_proc.url), supervisor, ledger, env)
    state.queue = state.producer()
    try:
        yield state
    finally:
        supervisor.stop_all()
        await state.queue.aclose()
