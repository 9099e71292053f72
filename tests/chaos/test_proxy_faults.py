"""Chaos scenarios S8b-S8d and S11: one-sided network faults through a TCP fault proxy."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator

import anyio
import pytest

from asyncjobs import EnqueueError
from asyncjobs.scripts import SOURCES
from tests.support import chaos_app as app
from tests.support.invariants import check_invariants
from tests.support.ledger import Ledger
from tests.support.proxy import FaultProxy
from tests.support.scenario import Chaos, all_done, at_least, enqueue, started
from tests.support.servers import RedisProc
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.chaos]


@pytest.fixture
def proxy(redis_proc: RedisProc) -> Iterator[FaultProxy]:
    relay = FaultProxy(redis_proc.port)
    yield relay
    relay.close()


async def test_s8b_one_sided_stall_fences_the_cut_off_worker(chaos: Chaos, proxy: FaultProxy) -> None:
    rng = random.Random(8)
    jobs = await enqueue(chaos, "work", [(rng.randint(50, 200),) for _ in range(2500)])
    cut_off = chaos.supervisor.spawn(0, url=proxy.url)
    chaos.supervisor.spawn(1)
    await wait_until(lambda: started(chaos) >= 500, 30, "500 starts")
    proxy.stall(6.0)
    processing = chaos.queue.keys.processing(cut_off.worker_id)
    stalled_at = time.monotonic()
    await wait_until(lambda: _gone(chaos, processing), 10, "the cut-off worker reaped")
    assert time.monotonic() - stalled_at <= 3.5 + 1.0
    await wait_until(all_done(chaos, len(jobs)), 90, "all results", chaos.snapshot)
    result = await check_invariants(chaos.queue, [j.id for j in jobs], chaos.ledger,
                                    max_duplicates=20, live_workers=2, supervisor=chaos.supervisor)
    assert result.ids == len(jobs)
    assert cut_off.process.poll() is None, "the cut-off worker came back"


async def _gone(chaos: Chaos, key: str) -> bool:
    return not await chaos.queue.redis.exists(key)


async def test_s8c_lost_blmove_replies_strand_no_job(chaos: Chaos, proxy: FaultProxy) -> None:
    worker = chaos.supervisor.spawn(0, url=proxy.url)
    await wait_until(lambda: _registered(chaos), 10, "the worker registered")
    [worker_id] = await chaos.queue.redis.zrange(chaos.queue.keys.workers, 0, -1)
    processing = chaos.queue.keys.processing(worker_id.decode())
    proxy.cut_replies(b"BLMOVE", 20)
    work = chaos.queue.tasks["work"]
    jobs = []
    seen_twice: set[bytes] = set()
    snapshots: list[set[bytes]] = []
    last_check = time.monotonic()
    for n in range(2000):  # a trickle, so the idle worker waits in BLMOVE
        jobs.append(await work.delay(0))
        if n % 10 == 0:
            await anyio.sleep(0.02)
        if time.monotonic() - last_check >= 1.0:
            last_check = time.monotonic()
            snapshots.append(set(await chaos.queue.redis.lrange(processing, 0, -1)))
            if len(snapshots) >= 3:
                seen_twice |= snapshots[-1] & snapshots[-2] & snapshots[-3]
    await wait_until(all_done(chaos, len(jobs)), 60, "all results", chaos.snapshot)
    assert proxy.cuts_done >= 1
    assert not seen_twice, "a job sat in the worker's list for 2 s while it lived"
    assert worker.process.poll() is None
    await check_invariants(chaos.queue, [j.id for j in jobs], chaos.ledger, max_duplicates=0,
                           live_workers=1, supervisor=chaos.supervisor)


async def _registered(chaos: Chaos) -> bool:
    return int(await chaos.queue.redis.zcard(chaos.queue.keys.workers)) >= 1


async def test_s8f_late_reconcile_copies_put_back_no_running_job(
    chaos: Chaos, proxy: FaultProxy
) -> None:
    """The worker's first reconcile (at start) is held in the network past the client's socket
    timeout; its re-sent copy loses its reply once, the next succeeds, and the worker fetches
    and runs jobs. Then the first copy reaches Redis, with the running entries read before any
    fetch. It must put back no running job: no job runs twice at once in the worker, and
    every extra execution is counted as a duplicate completion."""
    reconcile = hashlib.sha1(SOURCES["reconcile"].text.encode()).hexdigest().encode()
    proxy.delay_requests(reconcile, app.SETTINGS.socket_timeout + 1.5, times=1)
    proxy.cut_replies(reconcile, 1)
    rng = random.Random(16)
    jobs = await enqueue(chaos, "work", [(rng.randint(1500, 3000),) for _ in range(60)])
    chaos.supervisor.spawn(0, url=proxy.url)
    await wait_until(all_done(chaos, len(jobs)), 60, "all results", chaos.snapshot)
    assert proxy.delays_done == 1 and proxy.cuts_done == 1
    result = await check_invariants(chaos.queue, [j.id for j in jobs], chaos.ledger,
                                    max_duplicates=len(jobs), live_workers=1,
                                    supervisor=chaos.supervisor)
    ledger = Ledger.read(chaos.ledger)
    assert ledger.overlaps_within_a_process() == 0, "a job ran twice at once in one worker"
    assert result.completed_runs - len(jobs) == result.duplicate_completions, result


async def test_s8d_slow_link_makes_no_duplicates(chaos: Chaos, proxy: FaultProxy) -> None:
    proxy.latency(50)
    jobs = await enqueue(chaos, "work", [(random.randint(0, 5),) for _ in range(5000)])
    chaos.supervisor.spawn(0, url=proxy.url)
    chaos.supervisor.spawn(1)
    await wait_until(all_done(chaos, len(jobs)), 90, "all results", chaos.snapshot)
    result = await check_invariants(chaos.queue, [j.id for j in jobs], chaos.ledger,
                                    max_duplicates=0, live_workers=2, supervisor=chaos.supervisor)
    assert result.executions == len(jobs), "the slow worker was never reaped"
    assert (await chaos.queue.inspect.stats()).get("recovered", 0) == 0


async def test_s11_producer_errors_and_idempotent_retries(chaos: Chaos, proxy: FaultProxy) -> None:
    producer = chaos.producer(proxy.url)
    work = producer.tasks["work"]
    proxy.cut_replies(b"EVALSHA", 30)
    ids = [f"order-{n}" for n in range(100)]
    for job_id in ids:
        for _ in range(10):
            try:
                await work.options(job_id=job_id).delay(0)
                break
            except EnqueueError:
                continue  # the caller retries with the same id
        else:
            raise AssertionError(f"{job_id} never went in")
    assert proxy.cuts_done >= 1
    assert await chaos.queue.inspect.pending_count() == 100
    pending = await chaos.queue.redis.lrange(chaos.queue.keys.pending, 0, -1)
    assert len(set(pending)) == 100
    # with Redis down, .delay() fails fast with EnqueueError, it never hangs
    chaos.server.kill9()
    began = time.monotonic()
    with pytest.raises(EnqueueError):
        await work.delay(0)
    assert time.monotonic() - began <= app.SETTINGS.enqueue_timeout + 0.5
    chaos.server.restart()
    await producer.aclose()
    chaos.supervisor.spawn(0)
    await wait_until(lambda: at_least(chaos.queue, 100), 30, "100 results")
    await check_invariants(chaos.queue, ids, chaos.ledger, live_workers=1,
                           supervisor=chaos.supervisor)
