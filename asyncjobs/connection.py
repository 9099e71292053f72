"""The one owner of what a process holds open to Redis, and the one definition of "Redis is
unreachable" and of how to wait before trying again.

A ``Connection`` belongs to one event loop (redis.asyncio clients do). It holds the resending
client, the clients it hands out (the worker's fetch client, result listeners), the script
registry (EVALSHA, reloaded after NOSCRIPT) and the lanes of the hottest script calls, and it
closes all of them. Everything above it passes keys and arguments; nothing else opens a client.

The URL may name one server, a Redis Cluster or a master behind sentinels (``endpoint.py``).
On a cluster every call's keys share one hash slot (the queue's ``{name}`` tag), so each script
and pipeline runs on the master of that slot; pub/sub is sharded (SSUBSCRIBE/SPUBLISH, on the
node that serves the channel's slot); and lanes are off (``lane.py``: a lane is one connection
to one server, while the cluster client routes each command by its key and follows MOVED).
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import anyio
import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import ClusterPipeline
from redis.client import PubSub
from redis.commands.core import AsyncScript, Script
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .endpoint import ClusterUnavailable, Endpoint, async_client, node_of, parse, sync_client
from .lane import Lane, Tail

_log = logging.getLogger(__name__)
T = TypeVar("T")

UNREACHABLE: tuple[type[Exception], ...] = (
    RedisConnectionError, RedisTimeoutError, OSError,
    ClusterDownError, TryAgainError, SlotNotCoveredError,  # a cluster during a failover
)
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


SUBSCRIBED = frozenset({"subscribe", "ssubscribe"})
"""Kinds of the pub/sub message that confirms a subscription (classic, sharded)."""
MESSAGE = frozenset({"message", "smessage"})
"""Kinds of a pub/sub message that carries data (classic, sharded)."""


def confirm_commands(key: str, replicas: int, timeout: float) -> list[tuple[str | int, ...]]:
    """A write that changes nothing (``INCRBY key 0``, which replicas receive like any write),
    then ``WAIT``: replication keeps the order of writes, so once ``replicas`` replicas have
    this one they have every write the master took before it, whichever connection sent it.
    WAIT's reply is how many have it (it gives up after ``timeout`` seconds)."""
    return [("INCRBY", key, 0), ("WAIT", replicas, max(1, round(timeout * 1000)))]


class Connection:
    """The clients, scripts and lanes of one process in one event loop, for one server (or
    cluster, or sentinel-managed master)."""

    def __init__(self, url: str, *, socket_timeout: float) -> None:
        self.url = url
        self.endpoint: Endpoint = parse(url)
        self.cluster: bool = self.endpoint.cluster
        """A Redis Cluster: pub/sub is sharded, lanes are off."""
        self._socket_timeout = socket_timeout
        self.redis: aredis.Redis = self._make(resend=True, socket_timeout=socket_timeout)
        """The resending client: for reads and for every idempotent step."""
        self._owned: list[aredis.Redis] = [self.redis]
        self._scripts: dict[str, AsyncScript] = {}
        self._lanes: list[Lane] = []

    def _make(self, *, resend: bool, socket_timeout: float | None) -> aredis.Redis:
        return async_client(self.endpoint, resend=resend, max_connections=MAX_CONNECTIONS,
                            socket_timeout=socket_timeout)

    def client(self, *, resend: bool) -> aredis.Redis:
        """Another client of this connection, closed with it (the worker's fetch client)."""
        client = self._make(resend=resend, socket_timeout=self._socket_timeout)
        self._owned.append(client)
        return client

    async def listen(self, channel: str) -> AsyncGenerator[bytes | None, None]:
        """Subscribe to ``channel`` on a connection of its own, with no read timeout; yield
        None once the subscription is confirmed, then each message's data. On a cluster the
        subscription is sharded, on the master that serves the channel's slot. It ends by
        raising what broke it (one of ``UNREACHABLE``: a channel whose slot moved to another
        node is a ``ClusterUnavailable``); the caller subscribes again."""
        if self.cluster:
            await self.redis.initialize()
            host, port = node_of(self.redis, channel)
            client = aredis.Redis(host=host, port=port, socket_timeout=None,
                                  socket_connect_timeout=self._socket_timeout,
                                  **self.endpoint.server_kwargs())
        else:
            client = self._make(resend=False, socket_timeout=None)
        pubsub = client.pubsub()
        try:
            if self.cluster:
                await pubsub.ssubscribe(channel)
            else:
                await pubsub.subscribe(channel)
            async for message in pubsub.listen():
                kind = message["type"]
                if kind in MESSAGE:
                    yield cast("bytes", message["data"])
                elif kind in SUBSCRIBED:
                    yield None
                elif kind == "sunsubscribe":
                    raise ClusterUnavailable(f"the slot of {channel} moved to another node")
        except MovedError as exc:
            raise ClusterUnavailable(f"the slot of {channel} moved: {exc}") from None
        finally:
            with anyio.CancelScope(shield=True):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await client.aclose()

    async def publish(self, channel: str, message: bytes | str, client: Client | None = None) -> None:
        """Publish ``message`` on ``channel`` (sharded on a cluster), or queue it on a pipeline."""
        target = client or self.redis
        if isinstance(target, ClusterPipeline):  # awaiting its commands would empty it
            target.spublish(channel, message)
        elif self.cluster:
            await target.spublish(channel, message)
        else:
            await target.publish(channel, message)

    def sync_client(self, *, socket_timeout: float) -> redis.Redis:
        """A new blocking client, for a thread of its own (the heartbeat); its caller closes it.
        On a cluster, making it finds the cluster (``ClusterUnavailable`` when it cannot)."""
        return sync_client(self.endpoint, socket_timeout=socket_timeout, max_connections=2)

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
        self, name: str, source: str, client: aredis.Redis, keys: Sequence[str] | None, *fixed: str
    ) -> Lane | None:
        """A lane (``lane.py``) on ``client`` for a script whose keys and leading arguments never
        change (``keys`` None: a script whose keys vary, all given with each call), closed with
        this connection; None on a cluster."""
        if self.cluster:
            return None
        sha = self._script(name, source).sha
        head = () if keys is None else (str(len(keys)), *keys, *fixed)
        lane = Lane(client.connection_pool, "EVALSHA", sha, *head)
        self._lanes.append(lane)
        return lane

    async def run_on_lane(
        self,
        lane: Lane | None,
        tail: Callable[[], Tail],
        fallback: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
    ) -> T | Any:
        """The reply of ``lane`` to ``tail()`` (its parts encoded by ``lane_arg``, packed only
        when the lane takes the call); ``fallback()``
        (the same call by ``run_script``) while the lane is busy, after NOSCRIPT (nothing ran),
        and, for an ``idempotent`` call, after Redis was unreachable (the call may have run:
        only a step that is safe to run twice is sent again). Every other error is raised.
        No lane (a cluster): ``fallback()``."""
        if lane is None or lane.busy:
            return await fallback()
        try:
            return await lane.call(tail())
        except NoScriptError:
            return await fallback()
        except UNREACHABLE as exc:
            if not idempotent:
                raise
            _log.debug("lane call failed (%s); sending it again on the pool", exc)
            return await fallback()

    async def master_of(self, key: str) -> str:
        """The name (host:port) of the cluster master that serves ``key`` now."""
        cluster = cast("aredis.RedisCluster", self.redis)
        if not cluster.get_nodes():
            await cluster.initialize()
        node = cluster.get_node_from_key(key)
        if node is None:
            raise ClusterUnavailable(f"no cluster node serves the key {key}")
        return str(node.name)

    async def replicated(self, key: str, replicas: int, timeout: float, master: str) -> int:
        """On a cluster: how many replicas have every write that ``master``, the master that
        serves ``key``, took so far (``confirm_commands`` on one connection to it), within
        ``timeout`` seconds. A connection error when ``key`` is no longer served by ``master``
        (a failover or a slot migration since): what it took may not be where WAIT looks."""
        cluster = cast("aredis.RedisCluster", self.redis)
        node = cluster.get_node_from_key(key)
        if node is None or node.name != master:
            raise RedisConnectionError(f"the master that serves {key} changed during the call")
        commands = confirm_commands(key, replicas, timeout)
        connection = node.acquire_connection()
        try:
            await node.disconnect_if_needed(connection)
            await connection.send_packed_command(connection.pack_commands(commands))
            replies = [await connection.read_response() for _ in commands]
        except (MovedError, AskError) as exc:
            await connection.disconnect()  # a reply may be left unread on it
            raise RedisConnectionError(f"the master that serves {key} changed: {exc}") from exc
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            node.release(connection)
        return int(replies[-1])

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
        self.endpoint: Endpoint = parse(url)
        self.cluster: bool = self.endpoint.cluster
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
                self._client = sync_client(self.endpoint, socket_timeout=self._socket_timeout,
                                           max_connections=MAX_CONNECTIONS,
                                           client_name=self._client_name)
            return self._client

    def pubsub(self, channel: str) -> PubSub:
        """A subscription to ``channel`` on a connection of its own (sharded on a cluster, on
        the master that serves the channel's slot); its caller closes it. Its messages are of
        the kinds ``SUBSCRIBED`` and ``MESSAGE``."""
        client = self.redis
        if self.cluster:
            host, port = node_of(client, channel)
            client = redis.Redis(host=host, port=port, socket_timeout=self._socket_timeout,
                                 socket_connect_timeout=self._socket_timeout,
                                 **self.endpoint.server_kwargs())
        pubsub: PubSub = client.pubsub()  # type: ignore[no-untyped-call]
        if self.cluster:
            pubsub.ssubscribe(channel)
        else:
            pubsub.subscribe(channel)
        return pubsub

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

    def master_of(self, key: str) -> str:
        """``Connection.master_of`` for the blocking cluster client."""
        node = cast("redis.RedisCluster", self.redis).get_node_from_key(key)  # type: ignore[no-untyped-call]
        if node is None:
            raise ClusterUnavailable(f"no cluster node serves the key {key}")
        return str(node.name)

    def replicated(self, key: str, replicas: int, timeout: float, master: str) -> int:
        """``Connection.replicated`` for the blocking cluster client."""
        node = cast("redis.RedisCluster", self.redis).get_node_from_key(key)  # type: ignore[no-untyped-call]
        if node is None or node.name != master or node.redis_connection is None:
            raise RedisConnectionError(f"the master that serves {key} changed during the call")
        try:
            with node.redis_connection.pipeline(transaction=False) as pipe:
                for command in confirm_commands(key, replicas, timeout):
                    pipe.execute_command(*command)
                return int(pipe.execute()[-1])
        except (MovedError, AskError) as exc:
            raise RedisConnectionError(f"the master that serves {key} changed: {exc}") from exc

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
