"""The worker's heartbeat, on its own thread and connection.

A task that blocks the event loop cannot stop the heartbeat, so a busy worker never looks dead.
Beats go out at a fixed rate, every ``interval`` seconds; each successful one is reported with
the time it was sent to ``on_beat`` (the worker's ``Lease``, which judges what it means). The
heartbeat is also the worker's probe of Redis: it alone reports an outage (``OutageLog``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.exceptions import RedisError

from ..protocol import QueueKeys
from .outage import OutageLog

log: logging.Logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        client: redis.Redis,
        url: str,
        keys: QueueKeys,
        worker_id: str,
        *,
        interval: float,
        ttl: float,
        on_beat: Callable[[float], None],
    ) -> None:
        self._client = client
        self._keys = keys
        self._worker_id = worker_id
        self._interval = interval
        self._ttl = ttl
        self._on_beat = on_beat
        self._outage = OutageLog(url, worker_id)
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"asyncjobs-heartbeat-{worker_id}", daemon=True
        )

    def beat(self) -> bool:
        """Refresh the heartbeat and the registry entry once (blocking)."""
        sent = time.monotonic()  # the key lives at least ttl from now, if this succeeds
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.set(self._keys.heartbeat(self._worker_id), time.time(), px=int(self._ttl * 1000))
                pipe.zadd(self._keys.workers, {self._worker_id: time.time()})
                pipe.execute()
        except (RedisError, OSError) as exc:
            log.debug("heartbeat of %s failed: %s", self._worker_id, exc)
            self._outage.failed(exc)
            return False
        self._outage.ok()
        self._on_beat(sent)
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove this worker's heartbeat and registry entry (blocks
        briefly; when Redis cannot be reached, they expire)."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.delete(self._keys.heartbeat(self._worker_id))
                pipe.zrem(self._keys.workers, self._worker_id)
                pipe.execute()
        except (RedisError, OSError) as exc:
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
