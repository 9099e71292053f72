"""Fixtures of the chaos suite: a fresh AOF server per test, worker subprocesses, a ledger."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from asyncjobs import Queue

from . import app
from .harness import RedisProc, Supervisor, dump

pytestmark = pytest.mark.anyio


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


@dataclass
class Chaos:
    server: RedisProc
    queue: Queue
    supervisor: Supervisor
    ledger: Path
    env: dict[str, str]

    async def snapshot(self) -> str:
        """What each list holds and what the workers said, for a failed wait."""
        return await dump(self.queue, self.supervisor)

    def producer(self, url: str | None = None) -> Queue:
        """A Queue object with the app's tasks, talking to ``url`` (the server by default)."""
        queue = Queue(self.queue.name, url or self.server.url, settings=app.SETTINGS)
        for task in app.queue.tasks.values():
            queue.task(name=task.name, timeout=task.timeout, retries=task.retry.retries,
                       retry_backoff=task.retry.backoff)(task.fn)
        return queue


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
