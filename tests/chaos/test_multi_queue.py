"""Workers serving two queues: kill -9 of one with jobs of both running (the other worker
recovers every one of them, within the redelivery bound N, and none is lost); and connections
dropped while mostly idle workers wait on both queues (no job is lost, none runs twice).

Timings and the redelivery bound N: see tests/support/scenario.py.
"""

from __future__ import annotations

import random
import time

import anyio
import pytest

from asyncjobs import Job, Queue
from tests.support import chaos_app as app
from tests.support.invariants import check_invariants
from tests.support.ledger import Ledger
from tests.support.scenario import Chaos, N, at_least
from tests.support.supervisor import SECOND
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.chaos]


def second_queue(chaos: Chaos) -> Queue:
    second = Queue(f"{chaos.queue.name}-2", chaos.server.url, settings=app.SETTINGS)
    second.task(name="work")(app.work.fn)
    return second


async def test_kill9_of_a_worker_on_two_queues_loses_no_job_of_either(chaos: Chaos) -> None:
    first = chaos.queue
    second = second_queue(chaos)
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


async def test_dropped_connections_while_waiting_on_two_queues_lose_and_repeat_nothing(
    chaos: Chaos,
) -> None:
    first = chaos.queue
    second = second_queue(chaos)
    supervisor = chaos.supervisor
    supervisor.targets = (supervisor.targets[0], SECOND)
    supervisor.start(2)
    jobs: dict[str, list[Job[object]]] = {first.name: [], second.name: []}
    try:
        async def drop() -> None:
            for _ in range(10):
                await anyio.sleep(0.3)  # the fault's rhythm
                chaos.server.drop_clients()

        async with anyio.create_task_group() as tg:
            tg.start_soon(drop)
            for i in range(600):  # a trickle: the workers mostly wait, a BLMOVE per queue each
                q = (first, second)[i % 2]
                jobs[q.name].append(await q.enqueue(q.tasks["work"].call(i % 3)))
                await anyio.sleep(0.005)  # the producer's rhythm
        assert all(w.process.poll() is None for w in supervisor.workers.values())
        for q in (first, second):
            await wait_until(lambda q=q: at_least(q, 300), 60, f"300 results in {q.name}",
                             chaos.snapshot)
            result = await check_invariants(q, [job.id for job in jobs[q.name]], chaos.ledger,
                                            max_duplicates=0, live_workers=2,
                                            supervisor=supervisor)
            assert result.results == 300
        assert Ledger.read(chaos.ledger).started() == 600, "every job ran exactly once"
    finally:
        await second.aclose()
