"""Settings of a queue: documented defaults, and the only place that reads the environment."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from .endpoint import parse
from .errors import ConfigError
from .limits import RateLimit
from .redact import redact_url

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
REDIS_URL_ENV = "ASYNCJOBS_REDIS_URL"


def redis_url_from_env() -> str | None:
    """The Redis URL set in ``$ASYNCJOBS_REDIS_URL``, if any."""
    return os.environ.get(REDIS_URL_ENV) or None


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How a queue talks to Redis and keeps its records. Every field has a default.

    Durations are in seconds.
    """

    redis_url: str = field(default_factory=lambda: redis_url_from_env() or DEFAULT_REDIS_URL)
    """One server (``redis://``, ``rediss://``, ``unix://``), a cluster
    (``redis+cluster://host:port,host:port``) or a master behind sentinels
    (``redis+sentinel://host:port,host:port/<service>/<db>``): see ``endpoint.py``."""
    result_ttl: float = 3600.0
    """How long a finished job's record and outcome are kept (failures too)."""
    job_ttl: float = 7 * 24 * 3600.0
    """How long the record of a started job that has not finished is kept. A job waiting to
    start has no record yet (only its entry in the queued hash, which lasts until it starts);
    the job itself never expires."""
    max_payload_bytes: int = 1 << 20
    max_result_bytes: int = 1 << 20
    max_dead_letters: int = 10_000
    """The dead-letter list keeps at most this many entries (oldest dropped first)."""
    dead_letter_ttl: float = 30 * 24 * 3600.0
    """The dead-letter list expires this long after its last entry was added."""
    max_recoveries: int = 3
    """A job recovered this many times from dead workers is dead-lettered as ``worker_lost``."""
    enqueue_timeout: float = 5.0
    """``.delay()`` raises ``EnqueueError`` when Redis has not taken the job by then."""
    enqueue_replicas: int = 0
    """With 1 or more, an enqueue returns only once that many replicas have the job (Redis
    ``WAIT``), so a failover to one of them loses no job whose enqueue returned; fewer within
    ``replica_timeout``: ``EnqueueError`` (the job may still run; enqueueing it again with its
    ``job_id`` is safe). 0: replication is asynchronous (see the failover bound in the docs)."""
    replica_timeout: float = 1.0
    """How long an enqueue waits for ``enqueue_replicas`` replicas; below ``socket_timeout`` and
    ``enqueue_timeout``."""
    socket_timeout: float = 3.0
    block_timeout: float = 1.0
    """How long one blocking fetch waits for work; always below ``socket_timeout``."""
    heartbeat_interval: float = 2.0
    """How often a worker refreshes its heartbeat; at most half of ``heartbeat_ttl``."""
    heartbeat_ttl: float = 10.0
    """A worker whose heartbeat is this old is dead: its jobs are recovered by other workers
    within ``heartbeat_ttl + reaper_interval + 1`` seconds of its death."""
    reaper_interval: float = 5.0
    """How often each worker looks for dead workers to recover jobs from."""
    rate_limit: RateLimit | str | None = None
    """At most so many starts of this queue's jobs, whatever their task, across every worker
    (``"500/s"``, ``"20/m"``, ``RateLimit(...)``), on top of each task's own ``rate_limit``.
    Jobs carry it from the producer that enqueues them. A job over it waits in the schedule."""
    events: bool = True
    """Write every job's lifecycle events to the queue's event stream (``Queue.events``);
    False for the fastest path (nothing can then subscribe)."""
    events_max_len: int = 100_000
    """The event stream keeps about this many of the newest events (trimmed in whole nodes,
    so a few more): a subscriber that falls further behind misses the oldest."""

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{f.name}={redact_url(self.redis_url) if f.name == 'redis_url' else getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
        )
        return f"Settings({fields})"

    @property
    def parsed_rate_limit(self) -> RateLimit | None:
        """``rate_limit`` as a ``RateLimit``."""
        rate = self.rate_limit
        return RateLimit.parse(rate, "Settings") if rate is not None else None

    @property
    def on_cluster(self) -> bool:
        """Whether ``redis_url`` names a Redis Cluster (``redis+cluster://``, ``rediss+cluster://``)."""
        return self.redis_url.partition("://")[0].endswith("+cluster")

    def __post_init__(self) -> None:
        parse(self.redis_url)  # a malformed cluster or sentinel URL: ConfigError now
        if self.block_timeout >= self.socket_timeout:
            raise ConfigError("block_timeout must be below socket_timeout")
        if not 0 < self.heartbeat_interval <= self.heartbeat_ttl / 2:
            raise ConfigError(
                f"heartbeat_interval ({self.heartbeat_interval}) must be positive and at most half "
                f"of heartbeat_ttl ({self.heartbeat_ttl}), so that one late beat cannot let a live "
                "worker's heartbeat expire"
            )
        if self.enqueue_replicas < 0:
            raise ConfigError(f"enqueue_replicas must be 0 or more, not {self.enqueue_replicas}")
        if self.enqueue_replicas and not 0 < self.replica_timeout < min(self.socket_timeout,
                                                                        self.enqueue_timeout):
            raise ConfigError(f"replica_timeout ({self.replica_timeout}) must be positive and "
                              f"below socket_timeout ({self.socket_timeout}) and "
                              f"enqueue_timeout ({self.enqueue_timeout})")
        for name in ("result_ttl", "job_ttl", "socket_timeout", "block_timeout", "enqueue_timeout",
                     "reaper_interval", "dead_letter_ttl"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        _ = self.parsed_rate_limit  # a malformed rate: ConfigError now
        if self.events_max_len < 1:
            raise ConfigError("events_max_len must be at least 1")
