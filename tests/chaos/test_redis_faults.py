"""Chaos scenarios S2, S6-S8a, S8e: kill storms, Redis crashes, restarts, rollbacks, dropped
connections and a stalled server, with real processes. Timings as in test_workers."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from asyncjobs import EnqueueError, Job, JobNotFound, JobStatus, Queue, ResultTimeout, Settings
from tests.integration.conftest import running_worker
from tests.support.invariants import check_invariants
from tests.support.ledger import Ledger
from tests.support.scenario import Chaos, N, all_done, at_least, completed, enqueue, started
from tests.support.servers import RedisProc
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.chaos]


@dataclass
class Producer:
    """Calls ``.delay()`` in a loop while faults happen; records what Redis accepted.

    A call that raised may still have gone in (the server took it, then died before its
    reply): those ids are ``uncertain``, and count only if Redis has them afterwards.
    """

    queue: Queue
    accepted: list[Job[object]] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)
    refusals: list[float] = field(default_factory=list)
    running: bool = True

    async def run(self) -> None:
        work = self.queue.tasks["work"]
        n = 0
        while self.running:
            began = time.monotonic()
            n += 1
            job_id = f"produced-{n}"
            try:
                self.accepted.append(await work.options(job_id=job_id).delay(0))
            except EnqueueError:
                self.refusals.append(time.monotonic() - began)
                self.uncertain.append(job_id)
                await anyio.sleep(0.05)
            await anyio.sleep(0.005)

    async def ids(self) -> list[str]:
        """Every id Redis accepted, the uncertain ones included if they went in."""
        went_in = [job_id for job_id in self.uncertain if await self.queue.inspect.job(job_id) is not None]
        return [job.id for job in self.accepted] + went_in


async def redis_crash(chaos: Chaos, *, down_for: float, graceful: bool = False) -> None:
    """10,000 jobs, 2 workers, a producer; the server dies at 3,000 completions."""
    jobs = await enqueue(chaos, "work", [(random.randint(0, 5),) for _ in range(10_000)])
    chaos.supervisor.start(2)
    producer = Producer(chaos.producer())
    async with anyio.create_task_group() as tg:
        tg.start_soon(producer.run)
        await wait_until(lambda: at_least(chaos.queue, 3000), 60, "3,000 completions")
        if graceful:
            chaos.server.shutdown()
        else:
            chaos.server.kill9()
        await anyio.sleep(down_for)  # the outage itself
        chaos.server.restart()
        restarted = time.monotonic()
        baseline = await completed(chaos.queue)
        await wait_until(lambda: at_least(chaos.queue, baseline + 1), 10, "work to resume")
        assert time.monotonic() - restarted <= 5.0 + 1.0
        await anyio.sleep(1.0)  # keep producing a while after the restart
        producer.running = False
    assert all(w.process.poll() is None for w in chaos.supervisor.workers.values())
    assert all(seconds <= 5.0 for seconds in producer.refusals)
    ids = [j.id for j in jobs] + await producer.ids()
    await wait_until(all_done(chaos, len(ids)), 90, "every accepted job", chaos.snapshot)
    result = await check_invariants(chaos.queue, ids, chaos.ledger, max_duplicates=40,
                                    live_workers=2, supervisor=chaos.supervisor)
    assert result.overlaps == 0
    await producer.queue.aclose()


async def test_s6a_short_redis_crash(chaos: Chaos) -> None:
    await redis_crash(chaos, down_for=0.5)


async def test_s6b_long_redis_crash_expires_every_heartbeat(chaos: Chaos) -> None:
    await redis_crash(chaos, down_for=6.0)


async def test_s6c_graceful_redis_stop_loses_no_enqueue(chaos: Chaos) -> None:
    await redis_crash(chaos, down_for=1.0, graceful=True)


async def test_s2_kill_storm(chaos: Chaos) -> None:
    rng = random.Random(2)
    jobs = await enqueue(chaos, "work", [(rng.randint(0, 5),) for _ in range(20_000)])
    chaos.supervisor.start(3)
    kills: list[tuple[int, float]] = []
    for _ in range(10):
        await anyio.sleep(rng.uniform(0.5, 2.0))  # the storm's rhythm
        slot = rng.randrange(3)
        kills.append((chaos.supervisor.kill9(slot), time.time()))
        chaos.supervisor.restart(slot)
    await wait_until(all_done(chaos, len(jobs)), 120, "all results", chaos.snapshot)
    ledger = Ledger.read(chaos.ledger)
    in_flight = [ledger.in_flight(pid) for pid, _ in kills]
    bound = sum(len(s) for s in in_flight)
    lost_in = {job: sum(job in s for s in in_flight) for s in in_flight for job in s}
    letters = await chaos.queue.inspect.dead_letters(limit=1000)
    for letter in letters:
        assert letter.reason == "worker_lost"
        assert letter.job_id is not None and lost_in.get(letter.job_id, 0) >= 1
    await check_invariants(
        chaos.queue, [j.id for j in jobs], chaos.ledger, max_duplicates=bound,
        dead_expected={d.job_id: d.reason for d in letters if d.job_id}, live_workers=3,
        supervisor=chaos.supervisor,
    )
    assert bound <= 10 * 20


async def test_s7a_no_persistence_loses_data_but_workers_survive(chaos_no_aof: Chaos) -> None:
    chaos = chaos_no_aof
    jobs = await enqueue(chaos, "work", [(50,)] * 2000)
    chaos.supervisor.start(1)
    await wait_until(lambda: started(chaos) >= 100, 30, "100 starts")
    chaos.server.kill9()
    chaos.server.restart()
    with pytest.raises((JobNotFound, ResultTimeout)):  # a clear error, no hang
        await jobs[-1].result(timeout=2)
    after = await enqueue(chaos, "work", [(0,)] * 100)
    assert [await job.result(timeout=30) for job in after] == [0] * 100
    worker = chaos.supervisor.workers[0]
    assert worker.process.poll() is None
    assert "appendonly no" in worker.log.read_text()


async def test_s7b_rollback_to_an_older_aof(chaos: Chaos) -> None:
    jobs = await enqueue(chaos, "work", [(1,)] * 10_000)
    chaos.supervisor.start(2)
    await wait_until(lambda: at_least(chaos.queue, 3000), 60, "30% done")
    await anyio.to_thread.run_sync(lambda: chaos.server.client().bgrewriteaof())
    snapshot = chaos.server.snapshot_dir()
    await wait_until(lambda: at_least(chaos.queue, 6000), 60, "60% done")
    chaos.server.kill9()
    chaos.server.restart_from(snapshot)
    # every job present in the restored state completes, once in the new timeline
    await wait_until(all_done(chaos, len(jobs)), 90, "the restored jobs to complete", chaos.snapshot)
    await check_invariants(chaos.queue, [j.id for j in jobs], chaos.ledger,
                           max_duplicates=200, live_workers=2, drained_within=N + 5,
                           supervisor=chaos.supervisor)
    assert all(w.process.poll() is None for w in chaos.supervisor.workers.values())


async def test_s8a_dropped_connections_make_no_duplicates(chaos: Chaos) -> None:
    jobs = await enqueue(chaos, "work", [(random.randint(0, 3),) for _ in range(10_000)])
    chaos.supervisor.start(2)
    await wait_until(lambda: started(chaos) >= 500, 30, "500 starts")
    for _ in range(10):
        chaos.server.drop_clients()
        await anyio.sleep(0.5)  # the fault's rhythm
        assert all(w.process.poll() is None for w in chaos.supervisor.workers.values())
    await wait_until(all_done(chaos, len(jobs)), 90, "all results", chaos.snapshot)
    result = await check_invariants(chaos.queue, [j.id for j in jobs], chaos.ledger,
                                    max_duplicates=0, live_workers=2, supervisor=chaos.supervisor)
    assert result.executions == len(jobs)


async def test_s8e_stalled_server(chaos: Chaos) -> None:
    jobs = await enqueue(chaos, "work", [(random.randint(0, 20),) for _ in range(5000)])
    chaos.supervisor.start(2)
    await wait_until(lambda: started(chaos) >= 500, 30, "500 starts")
    chaos.server.pause(3000)
    await wait_until(all_done(chaos, len(jobs)), 90, "all results", chaos.snapshot)
    result = await check_invariants(chaos.queue, [j.id for j in jobs], chaos.ledger,
                                    max_duplicates=0, live_workers=2, supervisor=chaos.supervisor)
    assert result.completed_runs - len(jobs) <= 2 * 20, "only fenced runs ran again"


async def test_a_job_fetched_ahead_does_not_start_once_the_lease_is_lost(
    redis_proc: RedisProc,
) -> None:
    """A worker at concurrency 1 has run fast jobs, so it fetches one job ahead: a slow job
    runs, another waits behind it. The server stalls; the lease is lost, the fence stops the
    slow job and frees its slot. The waiting job must not start then (its code up to its first
    await would run while another worker may take the job): it runs once, after the stall."""
    settings = Settings(heartbeat_interval=0.4, heartbeat_ttl=2.0, reaper_interval=0.5)
    queue = Queue(f"ahead-{uuid.uuid4().hex[:8]}", redis_proc.url, settings=settings)
    slow_runs: list[float] = []
    marker_runs: list[float] = []
    fenced = anyio.Event()

    @queue.task(name="fast")
    async def fast() -> None:
        pass

    @queue.task(name="slow")
    async def slow() -> None:
        slow_runs.append(time.monotonic())
        if len(slow_runs) == 1:
            try:
                await anyio.sleep(60)
            except anyio.get_cancelled_exc_class():
                fenced.set()
                raise

    @queue.task(name="marker")
    async def marker() -> None:  # never awaits: once started, it runs whole
        marker_runs.append(time.monotonic())

    await queue.enqueue_many([fast.call() for _ in range(3000)])
    late = await queue.enqueue_many([slow.call(), marker.call()])
    try:
        async with running_worker(queue, concurrency=1):
            await wait_until(lambda: _started(late[1]), 30, "the marker job fetched ahead")
            assert not marker_runs and len(slow_runs) == 1
            stalled_at = time.monotonic()
            redis_proc.pause(3000)
            with anyio.fail_after(10):
                await fenced.wait()
            assert await late[1].result(timeout=30) is None
            assert len(marker_runs) == 1, "the marker job ran more than once"
            assert marker_runs[0] >= stalled_at + 2.9, "the marker job started without a lease"
    finally:
        await queue.aclose()


async def _started(job: Job[Any]) -> bool:
    info = await job.info()
    return info is not None and info.status is JobStatus.RUNNING
