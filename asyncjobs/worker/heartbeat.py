"""The worker's heartbeat, on its own thread and connection.

A task that blocks the event loop cannot stop the heartbeat, so a busy worker never looks dead.
"""

from __future__ import annotations

import logging
import threading
import time

from redis.exceptions import RedisError

from ..connection import sync_client
from ..keys import QueueKeys

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self, url: str, keys: QueueKeys, worker_id: str, *, interval: float, ttl: float
    ) -> None:
        self._url = url
        self._keys = keys
        self._worker_id = worker_id
        self._interval = interval
        self._ttl_ms = int(ttl * 1000)
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"asyncjobs-heartbeat-{worker_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove this worker's heartbeat and registry entry (blocks briefly)."""
        self._stopped.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        client = sync_client(self._url, socket_timeout=max(1.0, self._interval))
        beat = self._keys.heartbeat(self._worker_id)
        try:
            while not self._stopped.is_set():
                try:
                    with client.pipeline(transaction=False) as pipe:
                        pipe.set(beat, time.time(), px=self._ttl_ms)
                        pipe.zadd(self._keys.workers, {self._worker_id: time.time()})
                        pipe.execute()
                except (RedisError, OSError) as exc:
                    log.debug("heartbeat of %s failed: %s", self._worker_id, exc)
                self._stopped.wait(self._interval)
            try:
                with client.pipeline(transaction=False) as pipe:
                    pipe.delete(beat)
                    pipe.zrem(self._keys.workers, self._worker_id)
                    pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("could not deregister worker %s: %s", self._worker_id, exc)
        finally:
            client.close()
