"""A master SIGKILLed under load, behind sentinels and in a cluster: a worker and a producer in
this process go on with the promoted replica within 10 s, and a ledger of every acknowledged
enqueue and every run shows what replication lost (the README states the bound: replication
is asynchronous, so only what was acknowledged just before the kill may be lost)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import anyio
import pytest
import redis

from asyncjobs import EnqueueError, Queue, Settings
from asyncjobs.protocol import JobState
from asyncjobs.server import ClusterServers, RedisServer
from tests.integration.conftest import running_worker
from tests.support.servers import SentinelSet
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.chaos]

SETTINGS = Settings(heartbeat_interval=0.4, heartbeat_ttl=2.0, reaper_interval=0.5,
                    enqueue_timeout=1.0, socket_timeout=1.0, block_timeout=0.5)
BACK_WITHIN = 10.0
LOSS_WINDOW = 1.0
"""Seconds before the kill within which an acknowledged enqueue may be lost (not replicated
yet); the run fails if one acknowledged earlier is lost."""


@dataclass
class FailoverLedger:
    acknowledged: dict[str, float] = field(default_factory=dict)  # job id -> when .delay() returned
    runs: dict[str, list[float]] = field(default_factory=dict)  # job id -> when each run happened
    refused: int = 0


@pytest.fixture
def sentinels() -> Iterator[SentinelSet]:
    started = SentinelSet().start()
    try:
        yield started
    finally:
        started.cleanup()


@pytest.fixture
def cluster() -> Iterator[ClusterServers]:
    started = ClusterServers().start()
    try:
        yield started
    finally:
        started.cleanup()


def _name() -> str:
    return f"failover-{uuid.uuid4().hex[:8]}"


REPLICATED = replace(SETTINGS, enqueue_replicas=1, replica_timeout=0.5)


async def _failover(
    url: str, name: str, kill: Callable[[], None], promoted: Callable[[], bool],
    rejoin: Callable[[], None] | None = None,
) -> None:
    """With ``rejoin`` (which restarts the killed master: it comes back as a replica of the
    promoted one), enqueues wait for a replica (``enqueue_replicas=1``) and none that returned
    may be lost; without, those acknowledged within ``LOSS_WINDOW`` of the kill may be."""
    ledger = FailoverLedger()
    queue = Queue(name, url, settings=REPLICATED if rejoin else SETTINGS)

    @queue.task(name="record")
    async def record(n: int) -> None:
        ledger.runs.setdefault(f"j{n}", []).append(time.monotonic())

    stop = anyio.Event()

    async def produce() -> None:
        n = 0
        while not stop.is_set():
            try:
                await record.options(job_id=f"j{n}").delay(n)
            except EnqueueError:
                ledger.refused += 1
                await anyio.sleep(0.05)
                continue  # the same id again: enqueue is idempotent by id
            ledger.acknowledged[f"j{n}"] = time.monotonic()
            n += 1
            await anyio.sleep(0.002)

    try:
        async with running_worker(queue, concurrency=20), anyio.create_task_group() as tg:
            tg.start_soon(produce)
            await wait_until(lambda: len(ledger.runs) >= 200, 20, "200 jobs run before the kill")
            killed_at = time.monotonic()
            kill()
            await wait_until(promoted, 30, "a replica promoted")
            promoted_at = time.monotonic()
            if rejoin is not None:  # a replica again, for enqueues to wait for
                rejoin()
            await wait_until(lambda: any(t > promoted_at for t in ledger.acknowledged.values()),
                             BACK_WITHIN, "the producer enqueueing again")
            produced_at = min(t for t in ledger.acknowledged.values() if t > promoted_at)
            await wait_until(lambda: any(r > promoted_at for rs in ledger.runs.values() for r in rs),
                             BACK_WITHIN, "the worker running jobs again")
            ran_at = min(r for rs in ledger.runs.values() for r in rs if r > promoted_at)
            count = len(ledger.acknowledged)
            await wait_until(lambda: len(ledger.acknowledged) >= count + 200, 20, "200 more jobs")
            stop.set()
            last = max(ledger.acknowledged, key=ledger.acknowledged.__getitem__)
            await wait_until(lambda: last in ledger.runs, 20, "the last job run")
            await wait_until(_drained(queue), 20, "the queue drained")
        states = {job_id: await queue.inspect.job(job_id) for job_id in ledger.acknowledged}
        lost = [j for j, info in states.items() if info is None or info.status != JobState.COMPLETE]
        print(f"kill -> promoted {promoted_at - killed_at:.2f} s, -> producer back "
              f"{produced_at - killed_at:.2f} s, -> worker back {ran_at - killed_at:.2f} s; "
              f"{len(ledger.acknowledged)} acknowledged, {len(lost)} lost, "
              f"{ledger.refused} refused during the failover")
        window = 0.0 if rejoin else LOSS_WINDOW
        assert all(killed_at - ledger.acknowledged[j] < window for j in lost), lost
        # run again: a job fenced at the failover, or one whose outcome the promoted replica had
        # not received yet (replication is asynchronous): only a run close to the kill
        again = [j for j, runs in ledger.runs.items() if len(runs) > 1]
        assert all(killed_at - ledger.runs[j][0] < LOSS_WINDOW for j in again), again
    finally:
        await queue.aclose()


def _drained(queue: Queue) -> Callable[[], object]:
    async def check() -> bool:
        counts = await queue.inspect.counts()
        return counts.pending == 0 and counts.running == 0 and counts.scheduled == 0
    return check


@pytest.mark.parametrize("replicated", [False, True], ids=["async", "enqueue_replicas=1"])
async def test_a_sentinel_failover_under_load(sentinels: SentinelSet, replicated: bool) -> None:
    old = sentinels.current_master()

    def rejoin() -> None:  # as the sentinels would make it, sooner
        sentinels.master.start()
        with redis.Redis(port=sentinels.master.port, socket_timeout=5) as client:
            client.replicaof("127.0.0.1", sentinels.current_master())

    await _failover(sentinels.url, _name(), sentinels.master.kill,
                    lambda: sentinels.current_master() != old, rejoin if replicated else None)


@pytest.mark.parametrize("replicated", [False, True], ids=["async", "enqueue_replicas=1"])
async def test_a_cluster_master_failover_under_load(cluster: ClusterServers, replicated: bool) -> None:
    name = _name()
    with redis.Redis(port=cluster.nodes[0].port, socket_timeout=5) as client:
        slot = int(client.execute_command("CLUSTER", "KEYSLOT", f"{{{name}}}"))
    killed: list[RedisServer] = []

    def master() -> RedisServer:
        """The master that serves the queue's slot, as a live node sees it."""
        alive = next(n for n in cluster.nodes if n not in killed)
        with redis.Redis(port=alive.port, socket_timeout=5) as client:
            for start, end, owner, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return next(n for n in cluster.nodes if n.port == int(owner[1]))
        raise AssertionError(f"no master serves slot {slot}")

    def kill() -> None:
        killed.append(master())
        killed[0].kill()

    await _failover(cluster.url, name, kill, lambda: master() not in killed,
                    (lambda: killed[0].start()) if replicated else None)
