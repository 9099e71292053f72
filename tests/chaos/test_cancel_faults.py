"""Cancellation across processes and faults: a running job is stopped on the worker process
that runs it, and a cancelled job stays cancelled when that worker dies (it is never recovered).
"""

from __future__ import annotations

import time

import pytest

from asyncjobs import JobCancelled, JobState
from tests.support.ledger import Ledger
from tests.support.scenario import Chaos, N, enqueue, started
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio


async def test_cancel_stops_a_running_job_on_another_worker_process(chaos: Chaos) -> None:
    chaos.supervisor.start(1)
    [job] = await enqueue(chaos, "work", [(60_000,)])
    await wait_until(lambda: started(chaos) == 1, 15, "the job to start", chaos.snapshot)
    processing = chaos.queue.keys.processing(chaos.supervisor.workers[0].worker_id)

    async def dropped() -> bool:
        return await chaos.queue.redis.llen(processing) == 0

    asked = time.monotonic()
    assert await chaos.queue.cancel(job.id) is True
    await wait_until(dropped, 5, "the worker to stop the job", chaos.snapshot)
    took = time.monotonic() - asked
    print(f"cancel: the running job left its worker {took * 1000:.0f} ms after cancel()")
    assert took < 1.0
    with pytest.raises(JobCancelled):
        await job.result(timeout=1)
    assert job.id not in Ledger.read(chaos.ledger).ends, "stopped, not run to its end"
    [after] = await enqueue(chaos, "work", [(0,)])
    assert await after.result(timeout=10) == 0, "the worker goes on"
    stats = await chaos.queue.inspect.stats()
    assert stats.get("cancelled") == 1 and "duplicate_completions" not in stats
    assert chaos.supervisor.stop_all() == [0]


async def test_a_cancelled_job_whose_worker_is_killed_stays_cancelled(chaos: Chaos) -> None:
    """Cancel two running jobs and SIGKILL their worker at once (it may not have acted on the
    cancellation), cancel a third in the dead worker's list: a new worker recovers the others
    and never runs the cancelled ones again."""
    chaos.supervisor.start(1)
    jobs = await enqueue(chaos, "work", [(60_000,)] * 4 + [(1_000,)] * 4)
    await wait_until(lambda: started(chaos) == 8, 15, "8 jobs to start", chaos.snapshot)
    assert [await job.cancel() for job in jobs[:2]] == [True, True]
    chaos.supervisor.kill9(0)
    assert await jobs[2].cancel() is True
    chaos.supervisor.spawn(1)
    for job in jobs[4:]:
        assert await job.result(timeout=N + 10) == 1_000, "the others are recovered"
    await wait_until(lambda: len(Ledger.read(chaos.ledger).starts[jobs[3].id]) == 2, N + 10,
                     "the uncancelled long job to run again", chaos.snapshot)
    ledger = Ledger.read(chaos.ledger)
    for job in jobs[:3]:
        assert len(ledger.starts[job.id]) == 1, f"cancelled job {job.id} ran again"
        with pytest.raises(JobCancelled):
            await job.result(timeout=1)
        info = await job.info()
        assert info is not None and info.status is JobState.CANCELLED
    assert await jobs[3].cancel() is True  # running on the new worker now
    with pytest.raises(JobCancelled):
        await jobs[3].result(timeout=5)
    stats = await chaos.queue.inspect.stats()
    assert stats["cancelled"] == 4 and stats["complete"] == 4
    assert stats["recovered"] == 5, "every uncancelled job of the dead worker, no cancelled one"
    assert chaos.supervisor.stop_all()[-1] == 0
