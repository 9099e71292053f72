"""The worker's heartbeat, on its own thread and connection.

A task that blocks the event loop cannot stop the heartbeat, so a busy worker never looks dead.
Beats go out at a fixed rate, every ``interval`` seconds; each successful one is reported with
the time it was sent to ``on_beat`` (the worker's ``Lease``, which judges what it means). The
heartbeat is also the worker's probe of Redis: it alone reports an outage (``OutageLog``).

A worker serving several queues has one heartbeat: each beat refreshes every queue's heartbeat
key (with that queue's TTL) and registry entry, in one pipeline. The heartbeat keys hold the
worker's ``WorkerCard`` (host, pid, start time, queues) for ``asyncjobs workers``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence

import redis
from redis.exceptions import RedisClusterException, RedisError

from ..protocol import ENCODER, REGISTRY, QueueKeys, WorkerCard
from .outage import OutageLog

log: logging.Logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        make_client: Callable[[], redis.Redis],
        url: str,
        queues: Sequence[tuple[QueueKeys, float]],
        worker_id: str,
        *,
        interval: float,
        on_beat: Callable[[float], None],
    ) -> None:
        """``queues``: each queue's keys and heartbeat TTL. ``make_client`` makes the blocking
        client, on the first beat (making a cluster's finds the cluster, which may fail)."""
        self._make_client = make_client
        self._client: redis.Redis | None = None
        self._beats = [(keys.heartbeat(worker_id), keys.workers, int(ttl * 1000))
                       for keys, ttl in queues]
        self._names = list(dict.fromkeys(keys.queue for keys, _ in queues))  # shards: their queue
        self._card = ENCODER.encode(WorkerCard(socket.gethostname(), os.getpid(), time.time(),
                                               self._names))
        self._worker_id = worker_id
        self._interval = interval
        self._on_beat = on_beat
        self._outage = OutageLog(url, worker_id)
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"asyncjobs-heartbeat-{worker_id}", daemon=True
        )

    def beat(self) -> bool:
        """Refresh the heartbeats and the registry entries once (blocking)."""
        sent = time.monotonic()  # the keys live at least their ttl from now, if this succeeds
        try:
            if self._client is None:
                self._client = self._make_client()
            with self._client.pipeline(transaction=False) as pipe:
                now = time.time()
                for heartbeat, workers, ttl_ms in self._beats:
                    pipe.set(heartbeat, self._card, px=ttl_ms)
                    pipe.zadd(workers, {self._worker_id: now})
                pipe.sadd(REGISTRY, *self._names)  # the queues are known (asyncjobs info)
                pipe.execute()
        except (RedisError, RedisClusterException, OSError) as exc:
            log.debug("heartbeat of %s failed: %s", self._worker_id, exc)
            self._outage.failed(exc)
            return False
        self._outage.ok()
        self._on_beat(sent)
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove this worker's heartbeats and registry entries (blocks
        briefly; when Redis cannot be reached, they expire)."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._client is None:
            return
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for heartbeat, workers, _ in self._beats:
                    pipe.delete(heartbeat)
                    pipe.zrem(workers, self._worker_id)
                pipe.execute()
        except (RedisError, RedisClusterException, OSError) as exc:
            log.debug("could not deregister worker %s: %s", self._worker_id, exc)
        finally:
            self._client.close()

    def _run(self) -> None:
        due = time.monotonic()
        while True:
            due = max(due + self._interval, time.monotonic())  # no burst after a slow beat
            if self._stopped.wait(due - time.monotonic()):
                return
            self.beat()
