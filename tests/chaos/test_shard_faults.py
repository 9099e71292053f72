"""A sharded queue under faults: kill -9 of a worker with jobs of every shard running (the
other worker recovers each of them within the redelivery bound N, none is lost, none is left
in a shard), and a Redis restart under load (every job of every shard ends once).

Timings and the redelivery bound N: see tests/support/scenario.py.
"""

from __future__ import annotations

import random
import time

import anyio
import pytest

from asyncjobs import Queue
from tests.support import chaos_app as app
from tests.support.invariants import check_invariants
from tests.support.ledger import Ledger
from tests.support.scenario import Chaos, N
from tests.support.supervisor import SHARDED
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.chaos]


def sharded_queue(chaos: Chaos) -> Queue:
    queue = Queue(f"{chaos.queue.name}-sharded", chaos.server.url, settings=app.SETTINGS,
                  shards=3)
    queue.task(name="work")(app.work.fn)
    return queue


async def completed(queue: Queue, n: int) -> bool:
    return (await queue.inspect.counts()).complete >= n


async def test_kill9_of_a_worker_on_a_sharded_queue_loses_no_job_of_any_shard(
    chaos: Chaos,
) -> None:
    queue = sharded_queue(chaos)
    try:
        rng = random.Random(11)
        jobs = await queue.enqueue_many([queue.tasks["work"].call(rng.randint(50, 200))
                                         for _ in range(900)])
        shard_of = {job.id: queue.shard_of(job.id).name for job in jobs}
        assert len(set(shard_of.values())) == 3
        supervisor = chaos.supervisor
        supervisor.targets = (SHARDED,)
        victim = supervisor.spawn(0)
        supervisor.spawn(1)

        def running_in_every_shard() -> bool:
            held = Ledger.read(chaos.ledger).in_flight(victim.pid)
            return {shard_of[job] for job in held if job in shard_of} == set(shard_of.values())

        await wait_until(running_in_every_shard, 30, "jobs of every shard running on the victim",
                         chaos.snapshot)
        killed_at = time.time()
        supervisor.kill9(0)
        await wait_until(lambda: completed(queue, 900), 60, "900 results", chaos.snapshot)
        ledger = Ledger.read(chaos.ledger)
        orphans = ledger.in_flight(victim.pid)
        assert {shard_of[job] for job in orphans} == set(shard_of.values())
        assert len(orphans) <= supervisor.concurrency
        delays = [min(t for pid, _, t in ledger.starts[job] if pid != victim.pid and t > killed_at)
                  - killed_at for job in orphans]
        print(f"{len(orphans)} orphans over 3 shards re-started "
              f"{min(delays):.2f}-{max(delays):.2f} s after the kill")
        assert max(delays) <= N
        for shard in queue.shard_queues:
            ids = [job.id for job in jobs if shard_of[job.id] == shard.name]
            result = await check_invariants(shard, ids, chaos.ledger,
                                            max_duplicates=len(orphans), live_workers=1,
                                            supervisor=supervisor)
            assert result.results == len(ids) and result.overlaps == 0
            assert not await shard.redis.exists(shard.keys.processing(victim.worker_id))
        totals = await queue.inspect.counts()
        assert (totals.complete, totals.pending, totals.running) == (900, 0, 0)
    finally:
        await queue.aclose()


async def test_a_redis_restart_under_load_loses_no_job_of_a_sharded_queue(chaos: Chaos) -> None:
    queue = sharded_queue(chaos)
    try:
        jobs = await queue.enqueue_many([queue.tasks["work"].call(20) for _ in range(600)])
        supervisor = chaos.supervisor
        supervisor.targets = (SHARDED,)
        supervisor.start(2)
        await wait_until(lambda: completed(queue, 100), 30, "100 results", chaos.snapshot)
        chaos.server.kill9()
        await anyio.sleep(0.5)  # the outage itself
        chaos.server.restart()
        await wait_until(lambda: completed(queue, 600), 60, "600 results", chaos.snapshot)
        for shard in queue.shard_queues:
            ids = [job.id for job in jobs if queue.shard_of(job.id) is shard]
            result = await check_invariants(shard, ids, chaos.ledger,
                                            max_duplicates=40,
                                            live_workers=2, supervisor=supervisor)
            assert result.results == len(ids)
    finally:
        await queue.aclose()
