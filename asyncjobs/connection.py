"""The one owner of what a process holds open to Redis, and the one definition of "Redis is
unreachable" and of how to wait before trying again.

A ``Connection`` belongs to one event loop (redis.asyncio clients do). It holds the resending
client, the clients it hands out (the worker's fetch client, result listeners), the script
registry (EVALSHA, reloaded after NOSCRIPT) and the lanes of the hottest script calls, and it
closes all of them. Everything above it passes keys and arguments; nothing else opens a client.

It takes a URL of one server today; a cluster or sentinel client would come in through
``_make_client`` and ``run_script`` (each call's keys share one hash slot), with lanes off until
one is measured there (see ``lane.py``).
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import FullJitterBackoff, NoBackoff
from redis.commands.core import AsyncScript, Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .lane import Lane

_log = logging.getLogger(__name__)
T = TypeVar("T")

UNREACHABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
"""The errors that say Redis could not be reached, or did not answer in time."""

MAX_CONNECTIONS = 100
"""Connections a client opens at most; more concurrent commands wait for a free one."""

ScriptArg = bytes | str | float
Client = aredis.Redis | aredis.client.Pipeline
SyncRedis = redis.Redis
SyncClient = redis.Redis | redis.client.Pipeline


class Backoff:
    """Waits between tries of a step that found Redis unreachable: a random wait (full jitter)
    up to a bound that doubles from ``first`` to ``cap`` seconds, back to ``first`` on
    ``reset()`` after a success."""

    def __init__(self, first: float = 0.05, cap: float = 5.0) -> None:
        self._first = first
        self._cap = cap
        self._bound = first

    async def wait(self) -> None:
        await anyio.sleep(random.uniform(0, self._bound))
        self._bound = min(self._bound * 2, self._cap)

    def reset(self) -> None:
        self._bound = self._first


def _make_client(url: str, *, socket_timeout: float | None, resend: bool) -> aredis.Redis:
    """An asyncio client.

    With ``resend``, a command whose connection failed is sent again (up to 3 times, after a
    short jittered backoff): for reads and for the steps that are idempotent (enqueue by job
    id, the fenced finish, promote, reap). Without it, callers see every connection error: the
    fetch client, since a re-sent BLMOVE whose first reply was lost would leave a job behind in
    the processing list unnoticed.
    """
    if resend:
        retry = AsyncRetry(FullJitterBackoff(cap=0.5, base=0.02), 3)
        errors: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError]
    else:
        retry, errors = AsyncRetry(NoBackoff(), 0), []
    pool = aredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=None,  # callers bound their own waits (enqueue_timeout, socket timeouts)
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout or 5.0,
        retry=retry,
        retry_on_error=errors,
    )
    return aredis.Redis.from_pool(pool)


class Connection:
    """The clients, scripts and lanes of one process in one event loop, for one server."""

    def __init__(self, url: str, *, socket_timeout: float) -> None:
        self.url = url
        self._socket_timeout = socket_timeout
        self.redis: aredis.Redis = _make_client(url, socket_timeout=socket_timeout, resend=True)
        """The resending client: for reads and for every idempotent step."""
        self._owned: list[aredis.Redis] = [self.redis]
        self._scripts: dict[str, AsyncScript] = {}
        self._lanes: list[Lane] = []

    def client(self, *, resend: bool) -> aredis.Redis:
        """Another client of this connection, closed with it (the worker's fetch client)."""
        client = _make_client(self.url, socket_timeout=self._socket_timeout, resend=resend)
        self._owned.append(client)
        return client

    def listener_client(self) -> aredis.Redis:
        """A new client for one pub/sub subscription, with no read timeout; its caller closes it
        (a listener makes a new one after each lost connection)."""
        return _make_client(self.url, socket_timeout=None, resend=False)

    def sync_client(self, *, socket_timeout: float) -> redis.Redis:
        """A new blocking client, for a thread of its own (the heartbeat); its caller closes it."""
        return redis.Redis.from_url(
            self.url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
        )

    def _script(self, name: str, source: str) -> AsyncScript:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self.redis.register_script(source)
        return script

    async def run_script(
        self,
        name: str,
        source: str,
        keys: Sequence[str],
        args: Sequence[ScriptArg],
        client: Client | None = None,
    ) -> Any:
        """Run a script by EVALSHA on ``client`` (the resending client by default); after
        NOSCRIPT (a restart, SCRIPT FLUSH) load it and run it again. In a pipeline it is
        loaded before the pipeline runs."""
        script = self._script(name, source)
        target = client or self.redis
        if isinstance(target, aredis.client.Pipeline):
            return await script(keys=keys, args=args, client=target)
        try:
            return await target.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await script(keys=keys, args=args, client=target)

    def lane(
        self, name: str, source: str, client: aredis.Redis, keys: Sequence[str], *fixed: str
    ) -> Lane:
        """A lane (``lane.py``) on ``client`` for a script whose keys and leading arguments never
        change; closed with this connection."""
        sha = self._script(name, source).sha
        lane = Lane(client.connection_pool, "EVALSHA", sha, str(len(keys)), *keys, *fixed)
        self._lanes.append(lane)
        return lane

    async def run_on_lane(
        self,
        lane: Lane,
        tail: Sequence[bytes],
        fallback: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
    ) -> T | Any:
        """The reply of ``lane`` to ``tail`` (each part encoded by ``lane_arg``); ``fallback()``
        (the same call by ``run_script``) while the lane is busy, after NOSCRIPT (nothing ran),
        and, for an ``idempotent`` call, after Redis was unreachable (the call may have run:
        only a step that is safe to run twice is sent again). Every other error is raised."""
        if lane.busy:
            return await fallback()
        try:
            return await lane.call(*tail)
        except NoScriptError:
            return await fallback()
        except UNREACHABLE as exc:
            if not idempotent:
                raise
            _log.debug("lane call failed (%s); sending it again on the pool", exc)
            return await fallback()

    async def aclose(self) -> None:
        for lane in self._lanes:
            await lane.aclose()
        for client in self._owned:
            await client.aclose()
        self._lanes.clear()


_sync_lock = threading.Lock()


def _after_fork() -> None:
    global _sync_lock
    _sync_lock = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork)


class SyncConnection:
    """The blocking client of one process, for producers with no event loop (``*_sync``).

    Every thread shares one connection pool (at most ``MAX_CONNECTIONS`` connections; a thread
    waits for a free one). A forked child never uses its parent's sockets: on first use in a
    new process the pool is made anew, and the parent's is left to the parent. Connections are
    named ``client_name`` (``CLIENT LIST`` shows them).
    """

    def __init__(self, url: str, *, socket_timeout: float, client_name: str) -> None:
        self.url = url
        self._socket_timeout = socket_timeout
        self._client_name = client_name
        self._pid = os.getpid()
        self._client: SyncRedis | None = None
        self._scripts: dict[str, Script] = {}

    @property
    def pid(self) -> int:
        """The process the client was made in."""
        return self._pid

    @property
    def redis(self) -> SyncRedis:
        """This process's client, made on first use (again after a fork)."""
        client = self._client
        if client is not None and self._pid == os.getpid():
            return client
        with _sync_lock:
            if self._client is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._scripts = {}
                pool = redis.BlockingConnectionPool.from_url(
                    self.url,
                    max_connections=MAX_CONNECTIONS,
                    timeout=self._socket_timeout,  # for a free connection
                    socket_timeout=self._socket_timeout,
                    socket_connect_timeout=self._socket_timeout,
                    retry=Retry(NoBackoff(), 0),  # callers retry within their own deadline
                    client_name=self._client_name,
                )
                self._client = redis.Redis.from_pool(pool)
            return self._client

    def run_script(
        self,
        name: str,
        source: str,
        keys: Sequence[str],
        args: Sequence[ScriptArg],
        client: SyncClient | None = None,
    ) -> Any:
        """As ``Connection.run_script``, blocking: EVALSHA, loading the script after NOSCRIPT;
        in a pipeline it is loaded before the pipeline runs."""
        target = client or self.redis
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self.redis.register_script(source)
        if isinstance(target, redis.client.Pipeline):
            return script(keys=keys, args=args, client=target)
        try:
            return target.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return script(keys=keys, args=args, client=target)

    def close(self) -> None:
        """Close this process's connections (a later call opens new ones)."""
        with _sync_lock:
            client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            client.close()


def lane_arg(value: ScriptArg) -> bytes:
    """A script argument as a lane sends it: as redis-py would encode it."""
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else repr(value)).encode()
