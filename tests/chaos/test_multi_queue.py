"""kill -9 of a worker serving two queues, with jobs of both running: the other worker recovers
every one of them, within the redelivery bound N, and none is lost.

Timings and the redelivery bound N: see tests/support/scenario.py.
"""

from __future__ import annotations

import random
import time

import pytest

from asyncjobs import Queue
from tests.support import chaos_app as app
from tests.support.invariants import check_invariants
from tests.support.ledger import Ledger
from tests.support.scenario import Chaos, N, at_least
from tests.support.supervisor import SECOND
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.chaos]


async def test_kill9_of_a_worker_on_two_queues_loses_no_job_of_either(chaos: Chaos) -> None:
    first = chaos.queue
    second = Queue(f"{first.name}-2", chaos.server.url, settings=app.SETTINGS)
    second.task(name="work")(app.work.fn)
    try:
        rng = random.Random(7)
        jobs = {q.name: await q.enqueue_many([q.tasks["work"].call(rng.randint(50, 200))
                                              for _ in range(600)])
                for q in (first, second)}
        of_queue = {job.id: name for name, handles in jobs.items() for job in handles}
        supervisor = chaos.supervisor
        supervisor.targets = (supervisor.targets[0], SECOND)
        supervisor.options = ("--balance",)
        victim = supervisor.spawn(0)
        supervisor.spawn(1)

        def running_on_both() -> bool:
            held = Ledger.read(chaos.ledger).in_flight(victim.pid)
            return {of_queue[job] for job in held} == set(jobs)

        await wait_until(running_on_both, 30, "jobs of both queues running on the victim",
                         chaos.snapshot)
        killed_at = time.time()
        supervisor.kill9(0)
        for q in (first, second):
            await wait_until(lambda q=q: at_least(q, 600), 60, f"600 results in {q.name}",
                             chaos.snapshot)
        ledger = Ledger.read(chaos.ledger)
        orphans = ledger.in_flight(victim.pid)
        assert {of_queue[job] for job in orphans} == set(jobs)
        assert len(orphans) <= supervisor.concurrency
        delays = [min(t for pid, _, t in ledger.starts[job] if pid != victim.pid and t > killed_at)
                  - killed_at for job in orphans]
        print(f"{len(orphans)} orphans of 2 queues re-started "
              f"{min(delays):.2f}-{max(delays):.2f} s after the kill")
        assert max(delays) <= N
        for q in (first, second):
            result = await check_invariants(
                q, [job.id for job in jobs[q.name]], chaos.ledger, max_duplicates=len(orphans),
                live_workers=1, supervisor=supervisor,
            )
            assert result.results == 600 and result.overlaps == 0
            assert not await q.redis.exists(q.keys.processing(victim.worker_id))
            assert [w.id for w in await q.inspect.workers()] == [supervisor.workers[1].worker_id]
    finally:
        await second.aclose()
