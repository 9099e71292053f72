"""Chaos scenarios S0-S5, S9, S10, S12: worker processes killed, stopped, poisoned, overloaded.

Timings and the redelivery bound N: see tests/support/scenario.py.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import anyio
import msgspec
import pytest

from asyncjobs import Job, JobDeadLettered, JobFailed, JobStatus, TaskTimeout
from asyncjobs.protocol import ENCODER, Envelope
from tests.support.invariants import check_invariants
from tests.support.ledger import Ledger
from tests.support.scenario import Chaos, N, all_done, enqueue, started
from tests.support.supervisor import WorkerProc
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.chaos]


async def test_s0_baseline_no_fault_runs_every_job_exactly_once(chaos: Chaos) -> None:
    jobs = await enqueue(chaos, "work", [(0,)] * 20_000)
    chaos.supervisor.concurrency = 50
    chaos.supervisor.start(3)
    ids = [job.id for job in jobs]
    await wait_until(lambda: chaos.queue.inspect.stats(), 5, "stats")
    await wait_until(all_done(chaos, len(ids)), 90, "20,000 results", chaos.snapshot)
    result = await check_invariants(chaos.queue, ids, chaos.ledger, live_workers=3,
                                    supervisor=chaos.supervisor)
    assert result.executions == 20_000 and result.completed_runs == 20_000
    assert result.duplicate_completions == 0 and result.overlaps == 0
    assert chaos.supervisor.stop_all() == [0, 0, 0]


async def test_s1_kill9_mid_run_recovers_orphans_within_n(chaos: Chaos) -> None:
    rng = random.Random(1)
    jobs = await enqueue(chaos, "work", [(rng.randint(0, 20),) for _ in range(5000)])
    chaos.supervisor.start(2)
    await wait_until(lambda: started(chaos) >= 1000, 30, "1,000 starts")
    victim = chaos.supervisor.workers[0]
    killed_at = time.time()
    chaos.supervisor.kill9(0)
    await wait_until(all_done(chaos, len(jobs)), 60, "all results", chaos.snapshot)
    ledger = Ledger.read(chaos.ledger)
    orphans = ledger.in_flight(victim.pid)
    assert 0 < len(orphans) <= 20
    delays = []
    for job in orphans:
        rerun = min(t for pid, _, t in ledger.starts[job] if pid != victim.pid and t > killed_at)
        delays.append(rerun - killed_at)
    print(f"S1: {len(orphans)} orphans re-started {min(delays):.2f}-{max(delays):.2f} s after the kill")
    assert max(delays) <= N
    result = await check_invariants(
        chaos.queue, [j.id for j in jobs], chaos.ledger, max_duplicates=len(orphans),
        live_workers=1, supervisor=chaos.supervisor,
    )
    assert result.overlaps == 0
    assert not await chaos.queue.redis.exists(chaos.queue.keys.processing(victim.worker_id))


async def test_s3_a_job_that_kills_its_worker_is_dead_lettered_after_3_recoveries(
    chaos: Chaos,
) -> None:
    normal = await enqueue(chaos, "work", [(0,)] * 500)
    [crash] = await enqueue(chaos, "crash", [()])
    chaos.supervisor.start(2)
    chaos.supervisor.watch()
    with pytest.raises(JobDeadLettered) as caught:
        await crash.result(timeout=60)
    assert caught.value.exc_type == "worker_lost"
    assert [await job.result(timeout=30) for job in normal] == [0] * 500
    ledger = Ledger.read(chaos.ledger)
    assert len(ledger.starts[crash.id]) == 3
    crashed = {pid for pid, _, _ in ledger.starts[crash.id]}
    ended_pids = {w.pid for w in chaos.supervisor.history if w.process.poll() is not None}
    assert ended_pids == crashed, "worker pids changed only at the crashes"
    await check_invariants(
        chaos.queue, [j.id for j in normal] + [crash.id], chaos.ledger, max_duplicates=0,
        dead_expected={crash.id: "worker_lost"}, live_workers=2, supervisor=chaos.supervisor,
    )


async def busy_worker(chaos: Chaos, seed: int) -> tuple[list[Job[object]], WorkerProc]:
    """200 jobs of 0.2-4 s and one worker (concurrency 50) that has started 50 of them."""
    rng = random.Random(seed)
    jobs = await enqueue(chaos, "work", [(rng.randint(200, 4000),) for _ in range(200)])
    chaos.supervisor.concurrency = 50
    worker = chaos.supervisor.spawn(0)
    await wait_until(lambda: started(chaos) >= 50, 30, "50 starts", chaos.snapshot)
    return jobs, worker


async def test_s4_sigterm_finishes_within_grace_and_requeues_the_rest(chaos: Chaos) -> None:
    jobs, worker = await busy_worker(chaos, 4)
    termed_at = time.time()
    chaos.supervisor.term(0)
    code = await anyio.to_thread.run_sync(lambda: worker.process.wait(timeout=10))
    stopped_in = time.time() - termed_at
    assert code == 0 and stopped_in <= 2.0 + 1.0, stopped_in
    ledger = Ledger.read(chaos.ledger)
    assert all(t <= termed_at + 0.05 for runs in ledger.starts.values() for _, _, t in runs)
    finished = set(ledger.ends)
    for job in jobs:
        info = await job.info()
        assert info is not None
        if job.id in finished:
            assert info.status is JobStatus.COMPLETE
        else:
            assert info.status is JobStatus.QUEUED and info.attempts == 0
    assert await chaos.queue.inspect.pending_count() == len(jobs) - len(finished)
    q = chaos.queue
    assert await q.redis.zcard(q.keys.workers) == 0
    assert [k async for k in q.redis.scan_iter(match=f"{q.keys.base}:hb:*")] == []
    chaos.supervisor.spawn(1)
    await wait_until(all_done(chaos, len(jobs)), 30, "all results", chaos.snapshot)
    await check_invariants(q, [j.id for j in jobs], chaos.ledger, live_workers=1,
                           supervisor=chaos.supervisor)


async def test_s5_term_then_kill_is_recovered_within_n(chaos: Chaos) -> None:
    jobs, victim = await busy_worker(chaos, 5)
    chaos.supervisor.term(0)
    await anyio.sleep(0.5)  # the fault's timing: SIGKILL half a second into the grace period
    killed_at = time.time()
    chaos.supervisor.kill9(0)
    chaos.supervisor.spawn(1)
    await wait_until(all_done(chaos, len(jobs)), 60, "all results", chaos.snapshot)
    ledger = Ledger.read(chaos.ledger)
    orphans = ledger.in_flight(victim.pid)
    for job in orphans:
        rerun = min(t for pid, _, t in ledger.starts[job] if pid != victim.pid)
        assert rerun - killed_at <= N + 2.0, (job, rerun - killed_at)  # + the new worker's hold-off
    await check_invariants(chaos.queue, [j.id for j in jobs], chaos.ledger,
                           max_duplicates=len(orphans), live_workers=1, supervisor=chaos.supervisor)


def _raw(job_id: str, task: str, args: bytes) -> bytes:
    return ENCODER.encode(Envelope(job_id, task, msgspec.Raw(args), time.time()))


async def test_s9_poison_is_dead_lettered_and_nothing_runs(chaos: Chaos, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    poison = {
        b"\xc1 random bytes \x00\xff": "decode_error",
        b"": "decode_error",
        ENCODER.encode({"id": "x", "task": "work"}): "invalid_envelope",
        _raw("p-unknown", "os.system", ENCODER.encode([f"touch {canary}"])): "unknown_task",
        _raw("p-args", "work", ENCODER.encode(["not an int"])): "invalid_args",
        _raw("p-big", "work", ENCODER.encode([0]) + b"\x00" * (2 << 20)): "payload_too_large",
        b"\x94\xa3p-n\xa4work" + b"\x91" * 200_000 + b"\xc0\xcb" + bytes(8): "decode_error",
        b"\x94\xa3p-l\xa4work\xdd\xff\xff\xff\xff": "decode_error",
        _raw("p-ext", "work", b"\x91\xd4\x01\x02"): "invalid_args",
    }
    good = await enqueue(chaos, "work", [(0,)] * 1000)
    for raw in poison:
        await chaos.queue.redis.lpush(chaos.queue.keys.pending, raw)
    worker = chaos.supervisor.spawn(0)
    assert [await job.result(timeout=30) for job in good] == [0] * 1000
    await wait_until(lambda: _dead_count(chaos, len(poison)), 10, "9 dead letters")
    letters = await chaos.queue.inspect.dead_letters()
    assert sorted((d.payload, d.reason) for d in letters) == sorted(poison.items())
    assert not canary.exists()
    assert worker.process.poll() is None
    for job in good[:20]:
        info = await job.info()
        assert info is not None and info.attempts == 1


async def _dead_count(chaos: Chaos, n: int) -> bool:
    return int(await chaos.queue.redis.llen(chaos.queue.keys.dead)) >= n


async def test_s10_task_faults_never_take_the_worker_down(chaos: Chaos) -> None:
    booms = await enqueue(chaos, "boom", [(n,) for n in range(100)])
    slows = await enqueue(chaos, "slow", [()] * 100)
    bigs = await enqueue(chaos, "big", [()] * 100)
    works = await enqueue(chaos, "work", [(1,)] * 99)
    [blocker] = await enqueue(chaos, "block", [(3.0,)])  # blocks the loop longer than the TTL
    worker = chaos.supervisor.spawn(0)
    for job in booms:
        with pytest.raises(JobFailed) as caught:
            await job.result(timeout=60)
        assert caught.value.exc_type == "ValueError"
    for job in slows:
        with pytest.raises(TaskTimeout):
            await job.result(timeout=60)
    for job in bigs:
        with pytest.raises(JobFailed) as caught:
            await job.result(timeout=60)
        assert caught.value.exc_type == "ResultTooLarge"
    assert [await job.result(timeout=60) for job in works] == [1] * 99
    assert await blocker.result(timeout=60) == "blocked"
    ledger = Ledger.read(chaos.ledger)
    assert len(ledger.starts[blocker.id]) == 1, "the loop blocker ran exactly once"
    assert all(len(ledger.starts[job.id]) == 3 for job in booms), "2 retries each"
    assert worker.process.poll() is None
    await check_invariants(chaos.queue, [j.id for j in booms + slows + bigs + works + [blocker]],
                           chaos.ledger, live_workers=1, supervisor=chaos.supervisor)


async def test_s12_the_same_job_twice_stores_one_result(chaos: Chaos) -> None:
    work = chaos.queue.tasks["work"]
    calls = [work.call(n) for n in range(50)]
    await chaos.queue.enqueue_many(calls)
    for call in calls:
        await chaos.queue.redis.lpush(chaos.queue.keys.pending, call.payload)
    chaos.supervisor.start(2)
    await wait_until(lambda: _stat(chaos, "duplicate_completions", 50), 30, "50 duplicates",
                     chaos.snapshot)
    stats = await chaos.queue.inspect.stats()
    assert stats["complete"] == 50 and stats["duplicate_completions"] == 50
    for n, call in enumerate(calls):
        assert await chaos.queue.result(call.job_id, timeout=5) == n


async def _stat(chaos: Chaos, name: str, n: int) -> bool:
    return (await chaos.queue.inspect.stats()).get(name, 0) >= n
