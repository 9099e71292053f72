"""The worker's lease on its jobs: it owns the jobs in its processing list exactly as long as
its heartbeat key lives, and every rule that follows from that lives here.

- **Validity.** A beat sent at ``t`` keeps the key alive until at least ``t + ttl``. The lease
  counts as lost halfway between the next beat's due time and that expiry, at
  ``t + (ttl + interval) / 2``: a late beat has as much slack as the fence has to act.
  ``Settings`` requires ``interval <= ttl / 2``, so on time beats never let it lapse.
- **Self-fencing.** Once the lease is lost, other workers may recover our jobs, so every task
  call running under a ``JobScope`` is cancelled (and marked fenced, so the executor tells a
  fence from a timeout), and no new job is fetched until the lease is valid again.
- **Reap hold-off.** After a Redis restart or stall every heartbeat has expired, and live workers
  need time to beat again. So a worker reaps only once its own lease has been valid without a
  break for one TTL, and not within one TTL of its own connection trouble.
- **Reconcile.** After a connection error or a fence, every entry in our list that we do not
  hold (a fetch whose reply was lost, a fenced job) goes back to the queue before the next
  fetch. ``reconcile.lua`` also keeps any job started after the list of held entries was read,
  so a late copy of the call (re-sent, or delayed in the network) cannot put back a job we
  fetched and run since.
- **Several queues.** A worker serving several queues has one lease over all of them: one
  heartbeat refreshes each queue's heartbeat key and registry entry, and the fence cancels the
  jobs of every queue. What it holds and reconciles is kept per queue (``Held``), since each
  queue has its own processing list. A list is reconciled only while no blocking fetch into it
  is in flight (the worker's rule): a job whose ``start.lua`` reply is still on its way is in
  the list, started, and not yet held.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import anyio
import redis

from ..config import Settings
from ..protocol import QueueKeys
from ..scripts import Scripts
from .heartbeat import Heartbeat

log: logging.Logger = logging.getLogger(__name__)


class Lease:
    def __init__(
        self,
        queues: Sequence[tuple[QueueKeys, Settings]],
        worker_id: str,
        heartbeat_client: Callable[[], redis.Redis],
    ) -> None:
        """One lease over every queue in ``queues``. The beats go out at the shortest
        ``heartbeat_interval`` of them, each queue's key lives its own ``heartbeat_ttl``, the
        lease counts the shortest TTL, and the reap hold-off the longest. ``heartbeat_client`` makes
        the heartbeat's blocking client (on its first beat)."""
        ttl = min(settings.heartbeat_ttl for _, settings in queues)
        self._interval = min(settings.heartbeat_interval for _, settings in queues)
        self._hold_ttl = max(settings.heartbeat_ttl for _, settings in queues)
        self._lasts = (ttl + self._interval) / 2
        self._worker_id = worker_id
        self.heartbeat: Heartbeat = Heartbeat(
            heartbeat_client, queues[0][1].redis_url,
            [(keys, settings.heartbeat_ttl) for keys, settings in queues], worker_id,
            interval=self._interval, on_beat=self._renewed,
        )
        now = time.monotonic()
        self._valid_until = now  # lost until the first beat
        self._valid_since = now
        self._hold_until = now + self._hold_ttl
        self._helds: list[Held] = []
        self._scopes: set[JobScope] = set()

    def hold(self, scripts: Scripts, processing: str) -> Held:
        """What we hold of one queue's processing list ``processing``."""
        held = Held(scripts, processing, self._worker_id)
        self._helds.append(held)
        return held

    @property
    def holding(self) -> bool:
        """Whether we hold any entry of any of our lists."""
        return any(held.entries for held in self._helds)

    def _renewed(self, sent_at: float) -> None:
        """A beat sent at ``sent_at`` succeeded (called on the heartbeat thread)."""
        if sent_at >= self._valid_until:  # it had lapsed: steady again from now on
            self._valid_since = sent_at
        self._valid_until = sent_at + self._lasts

    @property
    def valid(self) -> bool:
        """Whether our heartbeat surely lives: our jobs are ours."""
        return time.monotonic() < self._valid_until

    def may_reap(self) -> bool:
        """Whether we may judge other workers dead by their expired heartbeats."""
        now = time.monotonic()
        return now >= self._hold_until and now < self._valid_until and (
            now - self._valid_since >= self._hold_ttl
        )

    def connection_lost(self) -> None:
        """Redis could not be reached: reconcile before the next fetch, and reap nobody for one
        TTL (a lost fetch reply may have left a job in our list; others' heartbeats may have
        expired with ours)."""
        self.must_reconcile()
        self._hold_until = max(self._hold_until, time.monotonic() + self._hold_ttl)

    def must_reconcile(self) -> None:
        """A fault may have left entries we do not hold in our lists."""
        for held in self._helds:
            held.needs_reconcile = True

    def scope(self, timeout: float | None) -> JobScope:
        """The cancel scope of one task call, cancelled by its timeout or by the fence."""
        return JobScope(self, timeout)

    async def guard(self) -> None:
        """Fence ourselves whenever the lease is lost: cancel every running task call. A fenced
        job is not recorded; it stays in our list until reconcile puts it back (unless a
        reaper already has). Jobs already recording their outcome go on."""
        while True:
            left = self._valid_until - time.monotonic()
            if left > 0:
                await anyio.sleep(left)
                continue
            if self._scopes:
                log.warning("worker %s: heartbeat lost; cancelling %d running jobs",
                            self._worker_id, len(self._scopes))
                for scope in self._scopes:
                    scope.fence()
            self.connection_lost()
            await anyio.sleep(self._interval / 4)


class Held:
    """The entries of one queue's processing list that we run or are about to run (with
    repeats), and whether a fault may have left others there."""

    def __init__(self, scripts: Scripts, processing: str, worker_id: str) -> None:
        self._scripts = scripts
        self._processing = processing
        self._worker_id = worker_id
        self.entries: Counter[bytes] = Counter()
        self.needs_reconcile: bool = True  # an earlier process with our id may have left jobs

    def take(self, entry: bytes) -> None:
        """We fetched ``entry`` and will run it."""
        self.entries[entry] += 1

    def release(self, entry: bytes) -> None:
        """``entry``'s run is over (recorded, or left for reconcile or the reaper)."""
        entries = self.entries
        entries[entry] -= 1
        if entries[entry] <= 0:
            del entries[entry]

    async def reconcile(self) -> None:
        """Put back every entry of our list that we do not hold, if a fault may have left one.
        Never while a fetch into this list is in flight."""
        if not self.needs_reconcile:
            return
        self.needs_reconcile = False
        try:
            back = await self._scripts.reconcile(self._processing, list(self.entries.elements()))
        except BaseException:
            self.needs_reconcile = True
            raise
        if back:
            log.warning("worker %s: put back %d jobs it had taken but was not running",
                        self._worker_id, back)


class JobScope:
    """One task call under the lease: cancelled by the job's timeout, by the fence when the lease
    is lost, and by a user's cancellation of the job. After the call, ``fenced``, ``cancelled``
    and ``timed_out`` say why it was stopped, if it was.

    It cancels the running task itself (``Task.cancel``, taken back with ``Task.uncancel`` on
    exit, as ``asyncio.timeout`` does) rather than through an anyio cancel scope: the scope is
    entered once a job, and anyio's was the largest share of a no-op job's CPU. A cancellation
    from outside (the worker stopping) goes through it untouched, and the task's own anyio scopes
    nest inside it as inside ``asyncio.timeout``."""

    __slots__ = ("_base", "_caught", "_fence", "_lease", "_stopped", "_task", "_timeout",
                 "_timer", "_user")

    def __init__(self, lease: Lease, timeout: float | None) -> None:
        self._lease = lease
        self._timeout = timeout
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._base = 0  # the task's pending cancellations on entry
        self._stopped = False  # we cancelled the task
        self._caught = False  # ... and took that cancellation back on exit
        self._fence = False
        self._user = False

    def __enter__(self) -> JobScope:
        task = self._task = asyncio.current_task()
        assert task is not None
        self._base = task.cancelling()
        if self._timeout is not None:
            self._timer = asyncio.get_running_loop().call_later(self._timeout, self._stop)
        lease = self._lease
        lease._scopes.add(self)
        if not lease.valid:  # lost since the fetch: stop it at its first await
            self._fence = True
            lease.must_reconcile()
            # not cancelled from inside the task: a job that never awaits would leave the
            # cancellation pending past the scope (3.11's uncancel does not take it back)
            asyncio.get_running_loop().call_soon(self._stop)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._lease._scopes.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        task, self._task = self._task, None  # closed: a late stop does nothing
        if not self._stopped or task is None:
            return False
        # ours to take back; swallowed only when no other cancellation is pending
        if task.uncancel() <= self._base and exc_type is asyncio.CancelledError:
            self._caught = True
            return True
        return False

    def _stop(self) -> None:
        if self._task is not None and not self._stopped:
            self._stopped = True
            self._task.cancel()

    def fence(self) -> None:
        self._fence = True
        self._stop()
        self._lease.must_reconcile()  # the job stays in our list for reconcile

    def cancel(self) -> None:
        """The job was cancelled (``Queue.cancel``)."""
        self._user = True
        self._stop()

    @property
    def cancelled(self) -> bool:
        """A user's cancellation stopped the call."""
        return self._user and not self._fence and self._caught

    @property
    def fenced(self) -> bool:
        """The fence cancelled the call (a call that ended before it noticed is not fenced)."""
        return self._fence and self._caught

    @property
    def timed_out(self) -> bool:
        return self._caught and not self._fence and not self._user
