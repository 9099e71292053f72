"""Concurrency limits and unique keys through faults: a worker SIGKILLed while its jobs hold
concurrency slots, and a Redis restart (AOF) while slots and keys are held. The ledger proves
the limit was never exceeded across processes; every job completes; no slot, wait list or
unique key is left behind."""

from __future__ import annotations

import math
import time

import anyio
import pytest

from asyncjobs import Job
from tests.support.ledger import Ledger
from tests.support.rates import most_in_a_window, started_at
from tests.support.scenario import Chaos, started
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio
LIMIT = 3  # chaos_app's "limited" task


def most_at_once(ledger: Ledger, jobs: set[str], cut_off: dict[int, float]) -> int:
    """The most runs of ``jobs`` under way at one time, across every process: a run lasts from
    its start to its end, or to the time its process was killed (``cut_off`` by pid)."""
    events: list[tuple[float, int]] = []
    for job in jobs:
        ends = sorted(ledger.ends.get(job, []), key=lambda e: e[1])
        for pid, _, begin in ledger.starts.get(job, []):
            end = next((t for p, t in ends if p == pid and t >= begin), cut_off.get(pid, math.inf))
            events += [(begin, 1), (end, -1)]
    most = now = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start at a tie
        now += step
        most = max(most, now)
    return most


async def leftovers(chaos: Chaos) -> list[str]:
    keys = chaos.queue.keys
    found: list[str] = []
    for pattern in (f"{keys.conc_prefix}run:*", f"{keys.conc_prefix}wait:*",
                    f"{keys.unique_prefix}*", keys.debounced):  # a rate's key expires by itself
        found += [key.decode() async for key in chaos.queue.redis.scan_iter(match=pattern)]
    return found


async def results(jobs: list[Job[object]]) -> list[object]:
    return [await job.result(timeout=60) for job in jobs]


async def test_a_worker_killed_while_holding_slots_never_lets_the_limit_be_exceeded(
    chaos: Chaos,
) -> None:
    limited = chaos.queue.tasks["limited"]
    work = chaos.queue.tasks["work"]
    jobs = await chaos.queue.enqueue_many([limited.call(300) for _ in range(30)])
    unique = [await work.options(unique_key=f"u-{n}").delay(50) for n in range(5)]
    chaos.supervisor.start(3)
    await wait_until(lambda: started(chaos) >= 6, 30, "six starts", chaos.snapshot)
    ledger = Ledger.read(chaos.ledger)
    holders = {pid for job in jobs for pid, _, _ in ledger.starts.get(job.id, [])}
    slot = next(s for s, w in chaos.supervisor.workers.items() if w.pid in holders)
    victim = chaos.supervisor.workers[slot].pid
    killed_at = time.time()
    chaos.supervisor.kill9(slot)
    chaos.supervisor.spawn(slot)
    assert await results(jobs) == [300] * 30
    assert await results(unique) == [50] * 5
    ledger = Ledger.read(chaos.ledger)
    most = most_at_once(ledger, {job.id for job in jobs}, {victim: killed_at})
    print(f"limited: at most {most} running at once (limit {LIMIT}), across a kill -9")
    assert most == LIMIT
    assert await leftovers(chaos) == []


@pytest.mark.parametrize("graceful", [True, False], ids=["shutdown", "kill9"])
async def test_a_redis_restart_while_slots_and_keys_are_held(
    chaos_fsync_always: Chaos, graceful: bool
) -> None:
    """The limits hold while Redis keeps what it acknowledged (a SIGKILL with
    ``appendfsync everysec`` may lose the last second of writes, starts included)."""
    chaos = chaos_fsync_always
    limited = chaos.queue.tasks["limited"]
    jobs = await chaos.queue.enqueue_many([limited.call(200) for _ in range(24)])
    held = [await limited.options(unique_key=f"k-{n}").delay(200) for n in range(3)]
    chaos.supervisor.start(2)
    await wait_until(lambda: started(chaos) >= 4, 30, "four starts", chaos.snapshot)
    if graceful:
        chaos.server.shutdown()
    else:
        chaos.server.kill9()
    await anyio.sleep(0.5)  # the outage itself
    chaos.server.restart()
    assert await results(jobs + held) == [200] * 27
    ledger = Ledger.read(chaos.ledger)
    most = most_at_once(ledger, {job.id for job in jobs + held}, {})
    print(f"limited: at most {most} running at once (limit {LIMIT}), across a Redis restart")
    assert most <= LIMIT
    assert await leftovers(chaos) == []
    assert all(w.process.poll() is None for w in chaos.supervisor.workers.values())


async def test_a_rate_limit_holds_across_three_worker_processes(chaos: Chaos) -> None:
    """200/s over 10 s with 3 worker processes: 1,900-2,100 starts, no 1-second window over
    210; the jobs over the rate wait in Redis, and a task without a limit is not held up."""
    rated = chaos.queue.tasks["rated"]
    work = chaos.queue.tasks["work"]
    chaos.supervisor.start(3)
    await wait_until(lambda: all_alive(chaos, 3), 30, "three workers", chaos.snapshot)
    backlog = await chaos.queue.enqueue_many([rated.call() for _ in range(3000)])
    began = time.time()
    other = await work.delay(0)
    assert await other.result(timeout=5) == 0, "an unlimited task runs beside the backlog"
    await wait_until(lambda: time.time() - began >= 10, 15, "ten seconds")
    times = await started_at(chaos.queue, [job.id for job in backlog])  # when the limiter let them
    in_ten = [t for t in times if t < began + 10]
    window = most_in_a_window(times, 1.0)
    ledger = Ledger.read(chaos.ledger)  # when the task bodies began, in each worker
    ran = [t for job in backlog for _, _, t in ledger.starts.get(job.id, [])]
    print(f"rate 200/s: {len(in_ten)} starts in 10 s, at most {window} in any 1-second window "
          f"(as the task bodies began, with each worker's own delay: "
          f"{most_in_a_window(ran, 1.0)})")
    assert 1900 <= len(in_ten) <= 2100
    assert window <= 210
    counts = await chaos.queue.inspect.counts()
    assert counts.running <= 3 * chaos.supervisor.concurrency
    assert chaos.supervisor.stop_all() == [0, 0, 0]


async def all_alive(chaos: Chaos, n: int) -> bool:
    return sum(w.alive for w in await chaos.queue.inspect.workers()) >= n
