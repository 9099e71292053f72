"""Schedules across a Redis restart (AOF on; fsync always for the kill -9): three worker
processes run a 3-second interval schedule while the server stops (gracefully, or SIGKILLed)
and comes back. No slot runs twice, and none is lost: a slot that fell in the outage runs
after it (it is within its grace), and if the outage held more than one slot, the earlier ones
are folded into the latest and counted as misfires, never dropped silently.

``skip_if_running`` is off: a job whose acknowledgement waits for the server to come back is
still running for the schedule, and would make the next slot a (counted) skip."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from asyncjobs import Queue
from asyncjobs.protocol import Stat, schedule_job_id
from tests.support.ledger import Ledger
from tests.support.scenario import Chaos
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.chaos]

EVERY = 3.0
OUTAGE = 1.5


def _runs(chaos: Chaos) -> dict[float, int]:
    """How many times each slot of the schedule started, by slot."""
    return {float(job.rsplit(":", 1)[1]): len(runs)
            for job, runs in Ledger.read(chaos.ledger).starts.items() if job.startswith("cron:tick:")}


async def _alive(queue: Queue, n: int) -> bool:
    return sum(w.alive for w in await queue.inspect.workers()) >= n


async def _quiet(queue: Queue) -> bool:
    counts = await queue.inspect.counts()
    return counts.pending == 0 and counts.running == 0


async def _whereabouts(chaos: Chaos, slot: float) -> str:
    job_id = schedule_job_id("tick", slot)
    keys = chaos.queue.keys
    return (f"{job_id}: {await chaos.queue.inspect.job(job_id)}, queued "
            f"{await chaos.queue.redis.hget(keys.queued, job_id)}, dead "
            f"{await chaos.queue.inspect.dead_letters()}\n{chaos.supervisor.stderr()}")


async def test_no_slot_runs_twice_and_none_is_lost_across_a_redis_shutdown(chaos: Chaos) -> None:
    await _across_a_restart(chaos, graceful=True)


async def test_no_slot_runs_twice_and_none_is_lost_across_a_redis_kill9(
    chaos_fsync_always: Chaos,
) -> None:
    # fsync always: with everysec, a kill -9 may take back a slot's start written within the
    # last second, and the slot then runs again (at least once, as the contract says)
    await _across_a_restart(chaos_fsync_always, graceful=False)


async def _across_a_restart(chaos: Chaos, *, graceful: bool) -> None:
    chaos.supervisor.start(3)
    await wait_until(lambda: _alive(chaos.queue, 3), 30, "three workers", chaos.supervisor.stderr)
    await chaos.queue.schedule("tick", chaos.queue.tasks["work"].call(0),
                               every=timedelta(seconds=EVERY), skip_if_running=False)
    await wait_until(lambda: len(_runs(chaos)) >= 3, 30, "three slots run", chaos.snapshot)
    if graceful:
        chaos.server.shutdown()
    else:
        chaos.server.kill9()
    await anyio.sleep(OUTAGE)  # the outage itself
    chaos.server.restart()
    before = len(_runs(chaos))
    await wait_until(lambda: len(_runs(chaos)) >= before + 3, 30, "three slots after the restart",
                     chaos.snapshot)
    await chaos.queue.unschedule("tick")
    await wait_until(lambda: _quiet(chaos.queue), 20, "the last slot's job done", chaos.snapshot)
    runs = _runs(chaos)
    slots = sorted(runs)
    assert {slot: n for slot, n in runs.items() if n != 1} == {}, "a slot ran twice"
    every_slot = [slots[0] + EVERY * i for i in range(round((slots[-1] - slots[0]) / EVERY) + 1)]
    not_run = [slot for slot in every_slot if slot not in runs]
    misfires = (await chaos.queue.inspect.stats()).get(Stat.SCHEDULE_MISFIRES.value, 0)
    lost = {slot: await _whereabouts(chaos, slot) for slot in not_run}
    assert len(not_run) == misfires, f"slots neither run nor counted: {lost}, {misfires}"
    assert len(not_run) <= 1, f"more than the outage's slot was missed: {not_run}"
    assert all(w.process.poll() is None for w in chaos.supervisor.workers.values())
