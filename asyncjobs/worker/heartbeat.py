"""The worker's heartbeat, on its own thread and connection.

A task that blocks the event loop cannot stop the heartbeat, so a busy worker never looks dead.
The worker reads ``stale`` to fence itself: once its heartbeat may have expired, other workers
may have taken its jobs, so it stops running them.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from redis.exceptions import RedisError

from ..protocol import QueueKeys

log: logging.Logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self, client: redis.Redis, keys: QueueKeys, worker_id: str, *, interval: float, ttl: float
    ) -> None:
        self._client = client
        self._keys = keys
        self._worker_id = worker_id
        self._interval = interval
        self._ttl = ttl
        self._stopped = threading.Event()
        self._last_ok = time.monotonic()
        self._steady_since = self._last_ok
        self._thread = threading.Thread(
            target=self._run, name=f"asyncjobs-heartbeat-{worker_id}", daemon=True
        )

    @property
    def stale(self) -> bool:
        """True once the heartbeat key may be about to expire (no beat for ttl - interval)."""
        return time.monotonic() - self._last_ok > self._ttl - self._interval

    @property
    def steady_for(self) -> float:
        """Seconds since the heartbeat last went stale (0 while it is). A worker that was cut
        off itself (a network fault, a stalled server) must not judge others by their expired
        heartbeats until its own has been steady for a while."""
        return 0.0 if self.stale else time.monotonic() - self._steady_since

    def beat(self) -> bool:
        """Refresh the heartbeat and the registry entry once (blocking)."""
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.set(self._keys.heartbeat(self._worker_id), time.time(), px=int(self._ttl * 1000))
                pipe.zadd(self._keys.workers, {self._worker_id: time.time()})
                pipe.execute()
        except (RedisError, OSError) as exc:
            log.debug("heartbeat of %s failed: %s", self._worker_id, exc)
            return False
        now = time.monotonic()
        if now - self._last_ok > self._ttl - self._interval:
            self._steady_since = now
        self._last_ok = now
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove this worker's heartbeat and registry entry (blocks briefly)."""
        self._stopped.set()
        self._thread.join(timeout=10)
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.delete(self._keys.heartbeat(self._worker_id))
                pipe.zrem(self._keys.workers, self._worker_id)
                pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not deregister worker %s: %s", self._worker_id, exc)
        finally:
            self._client.close()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            self.beat()
