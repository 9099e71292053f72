"""Where a Redis URL points, read in one place, and the clients that reach it.

- ``redis://``, ``rediss://``, ``unix://``: one server; the URL goes to redis-py as it is.
- ``redis+cluster://host:port,host:port`` (``rediss+cluster://`` with TLS): a Redis Cluster,
  found through any of these seed nodes (port 6379 when left out). A database other than 0
  is refused: a cluster has only database 0.
- ``redis+sentinel://host:port,host:port/<service>/<db>``: the master the sentinels name
  ``<service>`` (port 26379 when left out; ``<db>`` defaults to 0); a failover is followed.

``user:password@`` before the hosts applies to the servers (not to the sentinels). A malformed
URL raises ``ConfigError`` with one line. A cluster whose seeds do not answer, or that does not
serve every hash slot, raises ``ClusterUnavailable``: a ``redis.ConnectionError``, so workers
retry it as any outage and producers report it as ``EnqueueError``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import unquote

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import FullJitterBackoff, NoBackoff
from redis.cluster import ClusterNode
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

from .errors import ConfigError
from .redact import redact_url

Kind = Literal["server", "cluster", "sentinel"]
_SCHEMES: dict[str, tuple[Kind, bool, int]] = {
    "redis+cluster": ("cluster", False, 6379),
    "rediss+cluster": ("cluster", True, 6379),
    "redis+sentinel": ("sentinel", False, 26379),
    "rediss+sentinel": ("sentinel", True, 26379),
}
CLUSTER_MAX_CONNECTIONS = 10_000
"""Connections a cluster client opens to one node at most. redis-py's cluster client fails a
command at its limit instead of waiting, so the limit is high (each concurrent command holds
one connection while it runs)."""


class ClusterUnavailable(RedisConnectionError):
    """The cluster cannot serve commands: no seed node answers, or not every slot is served."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed Redis URL (``parse``)."""

    kind: Kind
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    """Seed nodes of a cluster, or the sentinels."""
    service: str = ""
    """The sentinels' name of the master."""
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False

    @property
    def cluster(self) -> bool:
        return self.kind == "cluster"

    def server_kwargs(self) -> dict[str, Any]:
        """Connection options of the servers behind a cluster or sentinel URL."""
        options: dict[str, Any] = {"username": self.username, "password": self.password}
        if self.ssl:
            options["ssl"] = True
        return options


def _host_port(part: str, default_port: int, url: str) -> tuple[str, int]:
    if part.startswith("["):  # [ipv6]:port
        host, _, rest = part[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = part.rpartition(":") if ":" in part else (part, "", "")
    if not host:
        raise ConfigError(f"Redis URL {redact_url(url)!r}: {part!r} names no host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"Redis URL {redact_url(url)!r}: {port_text!r} is not a port")
    return host, int(port_text)


def parse(url: str) -> Endpoint:
    """What ``url`` points at; ``ConfigError`` when a cluster or sentinel URL is malformed."""
    scheme, sep, rest = url.partition("://")
    known = _SCHEMES.get(scheme.lower()) if sep else None
    if known is None:
        return Endpoint("server", url)
    kind, ssl, default_port = known
    shown = redact_url(url)
    if "?" in rest or "#" in rest:
        raise ConfigError(f"Redis URL {shown!r}: a {scheme} URL takes no ?options")
    authority, _, path = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    nodes = tuple(_host_port(part, default_port, url) for part in hosts.split(",") if part)
    if not nodes:
        raise ConfigError(f"Redis URL {shown!r} names no host: {scheme}://host:port,host:port")
    parts = [p for p in path.split("/") if p]
    if kind == "cluster":
        if parts not in ([], ["0"]):
            raise ConfigError(f"Redis URL {shown!r}: a cluster has only database 0, not "
                              f"/{'/'.join(parts)}")
        return Endpoint(kind, url, nodes, username=username, password=password, ssl=ssl)
    if not parts or len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise ConfigError(f"Redis URL {shown!r} must end in /<service name>[/<db>]: "
                          f"{scheme}://host:port,host:port/mymaster/0")
    db = int(parts[1]) if len(parts) == 2 else 0
    return Endpoint(kind, url, nodes, unquote(parts[0]), db, username, password, ssl)


def _cluster_unavailable(endpoint: Endpoint, exc: Exception) -> ClusterUnavailable:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "not covered" in text:
        why = f"the cluster does not serve every hash slot ({text.split('. ', 1)[-1]})"
    elif "cannot be connected" in text:
        why = "no seed node answers"
    else:
        why = text
    return ClusterUnavailable(f"Redis Cluster at {redact_url(endpoint.url)}: {why}")


_UNSENT_TRIES = 5
_HANDSHAKE = "on_connect_check_health"  # after the TCP connection, before the command
_CLOSED_UNDER_WRITE = "_drain_helper"  # asyncio's stream: the transport closed before it was flushed


def _unsent(exc: BaseException) -> bool:
    """Whether ``exc`` was raised before the command was sent whole: where redis-py writes it,
    in the handshake of the connection opened for it, or when its write found the connection
    already closed (or closing before the command had left the transport's buffer: Redis then
    has at most a part of it, and runs no part of one command)."""
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_name
        if name == _HANDSHAKE or (tb.tb_next is None and name == "_send_packed_command"):
            return True
        tb = tb.tb_next
    cause = exc.__cause__
    return isinstance(cause, ConnectionResetError) and _innermost(cause) == _CLOSED_UNDER_WRITE


def _innermost(exc: BaseException) -> str | None:
    """The name of the function that raised ``exc``."""
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_name


class _AsyncCluster(aredis.RedisCluster):
    """A cluster client whose failure to find the cluster is a ``ClusterUnavailable``, and
    whose commands wait for one of ``_limit`` turns: redis-py's cluster client opens a new
    connection for every concurrent command (one server's client waits for a free one)."""

    _endpoint: Endpoint
    _limit: int
    _turns: asyncio.Semaphore | None = None

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._turns is None:  # made in the event loop that uses it
            self._turns = asyncio.Semaphore(self._limit)
        async with self._turns:
            for attempt in range(_UNSENT_TRIES):
                try:
                    return await super().execute_command(*args, **kwargs)
                except (AttributeError, RedisConnectionError) as exc:
                    # redis-py's cluster client, after one command's connection error, closes
                    # the free connections and marks the busy ones for reconnection: another
                    # command may then find no socket, or lose the one it was opening. That
                    # command was not sent, so sending it again is safe, for any command
                    # (its last try, that is: a resending client's earlier tries may have been
                    # sent, but it resends only idempotent steps)
                    last = attempt == _UNSENT_TRIES - 1
                    if isinstance(exc, ClusterUnavailable) or not _unsent(exc) or last:
                        if isinstance(exc, RedisConnectionError):
                            raise
                        raise RedisConnectionError(f"connection closed under a command: {exc}") from exc
                    await asyncio.sleep(0.01 * (attempt + 1))
            raise AssertionError("unreachable")

    async def initialize(self, *args: Any, **kwargs: Any) -> aredis.RedisCluster:
        try:
            return await super().initialize(*args, **kwargs)
        except RedisClusterException as exc:
            raise _cluster_unavailable(self._endpoint, exc) from None

    async def _determine_slot(self, command: str, *args: Any) -> int:
        """A script call's slot is its first key's: every key of one call shares the queue's
        hash tag (and the server refuses a call across slots), so the others, one per job in
        a batch, are not hashed again on each call."""
        if command == "EVALSHA" and len(args) > 2 and int(args[1]) > 1:
            return int(self.keyslot(args[2]))
        return int(await super()._determine_slot(command, *args))


class _SyncCluster(redis.RedisCluster):
    """A blocking cluster client whose failure to find the cluster is a ``ClusterUnavailable``
    (also when it looks for the cluster again after a node failed)."""

    _endpoint: Endpoint

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().execute_command(*args, **kwargs)  # type: ignore[no-untyped-call]
        except RedisClusterException as exc:
            raise _cluster_unavailable(self._endpoint, exc) from None


class _AsyncSentinelMaster(aredis.Redis):
    """The master behind sentinels; closing it also closes its connections to the sentinels."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in self.connection_pool.sentinel_manager.sentinels:  # type: ignore[attr-defined]
            await sentinel.aclose()


class _SyncSentinelMaster(redis.Redis):
    """The master behind sentinels; closing it also closes its connections to the sentinels."""

    def close(self) -> None:
        super().close()
        for sentinel in self.connection_pool.sentinel_manager.sentinels:  # type: ignore[attr-defined]
            sentinel.close()


def async_client(
    endpoint: Endpoint, *, socket_timeout: float | None, resend: bool, max_connections: int
) -> aredis.Redis:
    """An asyncio client of ``endpoint``.

    With ``resend``, a command whose connection failed is sent again (up to 3 times, after a
    short jittered backoff): for reads and for the steps that are idempotent. Without it,
    callers see every connection error (the fetch client: a re-sent BLMOVE whose first reply
    was lost would leave a job behind in the processing list unnoticed). A cluster client is
    typed as ``Redis``: it has the same commands, routed by key.
    """
    if resend:
        retry = AsyncRetry(FullJitterBackoff(cap=0.5, base=0.02), 3)
        errors: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError]
    else:
        retry, errors = AsyncRetry(NoBackoff(), 0), []
    timeouts: dict[str, Any] = {"socket_timeout": socket_timeout,
                "socket_connect_timeout": socket_timeout or 5.0}
    if endpoint.kind == "cluster":
        client = _AsyncCluster(
            startup_nodes=[AsyncClusterNode(host, port) for host, port in endpoint.nodes],
            max_connections=CLUSTER_MAX_CONNECTIONS, retry=retry, retry_on_error=errors or None,
            **timeouts, **endpoint.server_kwargs(),
        )
        client._endpoint = endpoint
        client._limit = max_connections
        return cast("aredis.Redis", client)
    if endpoint.kind == "sentinel":
        sentinel = AsyncSentinel(list(endpoint.nodes), sentinel_kwargs=timeouts)  # type: ignore[no-untyped-call]
        return cast("aredis.Redis", sentinel.master_for(
            endpoint.service, redis_class=_AsyncSentinelMaster, db=endpoint.db, retry=retry,
            retry_on_error=errors, max_connections=max_connections, **timeouts, **endpoint.server_kwargs(),
        ))
    pool = aredis.BlockingConnectionPool.from_url(
        endpoint.url,
        max_connections=max_connections,
        timeout=None,  # callers bound their own waits (enqueue_timeout, socket timeouts)
        retry=retry,
        retry_on_error=errors,
        **timeouts,
    )
    return aredis.Redis.from_pool(pool)


def sync_client(
    endpoint: Endpoint, *, socket_timeout: float, max_connections: int, client_name: str | None = None
) -> redis.Redis:
    """A blocking client of ``endpoint`` that never re-sends a command (its callers retry
    within their own deadlines). Threads share it; a pool waits for a free connection."""
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout,
        "retry": Retry(NoBackoff(), 0), "client_name": client_name,
    }
    if endpoint.kind == "cluster":
        try:
            client = _SyncCluster(
                startup_nodes=[ClusterNode(host, port)  # type: ignore[no-untyped-call]
                               for host, port in endpoint.nodes],
                max_connections=CLUSTER_MAX_CONNECTIONS, **options, **endpoint.server_kwargs(),
            )
        except RedisClusterException as exc:
            raise _cluster_unavailable(endpoint, exc) from None
        client._endpoint = endpoint
        return cast("redis.Redis", client)
    if endpoint.kind == "sentinel":
        timeouts = {k: options[k] for k in ("socket_timeout", "socket_connect_timeout")}
        sentinel = Sentinel(list(endpoint.nodes), sentinel_kwargs=timeouts)  # type: ignore[no-untyped-call]
        return cast("redis.Redis", sentinel.master_for(  # type: ignore[no-untyped-call]
            endpoint.service, redis_class=_SyncSentinelMaster, db=endpoint.db,
            max_connections=max_connections, **options,
            **endpoint.server_kwargs(),
        ))
    pool = redis.BlockingConnectionPool.from_url(
        endpoint.url, max_connections=max_connections, timeout=socket_timeout, **options)
    return redis.Redis.from_pool(pool)


def node_of(client: redis.Redis | aredis.Redis, channel: str) -> tuple[str, int]:
    """The address of the cluster master that serves ``channel``'s hash slot (the cluster
    client must know the cluster: initialized, or a blocking one)."""
    node = cast("aredis.RedisCluster | redis.RedisCluster", client).get_node_from_key(channel)
    if node is None:
        raise ClusterUnavailable(f"no cluster node serves the channel {channel}")
    return node.host, int(node.port)
