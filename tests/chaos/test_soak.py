"""The soak: a long run with a seeded chaos monkey, every invariant checked over all jobs.

``ASYNCJOBS_SOAK_JOBS`` sets the size (default 60,000; the full soak is 200,000).
"""

from __future__ import annotations

import os
import random
import time
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncjobs import Job
from tests.chaos.test_flow_faults import leftovers, most_at_once
from tests.support.invariants import check_invariants, locate
from tests.support.ledger import Ledger
from tests.support.rates import most_in_a_window, started_at
from tests.support.scenario import Chaos, completed, enqueue
from tests.support.supervisor import Supervisor

pytestmark = [pytest.mark.anyio, pytest.mark.soak]
LIMITED = 300
"""Jobs of a task with a concurrency limit and a unique key each, run through the chaos."""
KEYED, KEYS = 200, 10
"""Jobs of a task limited to one at a time per key, over this many keys."""
RATED = 300
"""Jobs of a task limited to 200 starts a second."""
STALL = 20.0
"""Seconds with no job finished after which the soak fails, saying where the rest are."""


def _serving(sup: Supervisor, rng: random.Random) -> int | None:
    """A slot whose worker is past its start (it logged its queue), or None."""
    slots = [slot for slot, w in sup.workers.items() if ": queue " in w.log.read_text()]
    return rng.choice(slots) if slots else None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def test_soak_with_a_chaos_monkey(chaos: Chaos) -> None:
    total = int(os.environ.get("ASYNCJOBS_SOAK_JOBS", "60000"))
    seed = int(os.environ.get("ASYNCJOBS_SOAK_SEED", str(int(time.time()))))
    print(f"soak: {total} jobs, seed {seed}")
    rng = random.Random(seed)
    jobs = await enqueue(chaos, "work", [(0,)] * total)
    limited = chaos.queue.tasks["limited"]  # max_concurrency 3, each with a unique key
    held = [await limited.options(unique_key=f"soak-{n}").delay(20) for n in range(LIMITED)]
    keyed = chaos.queue.tasks["keyed"]  # key_concurrency 1
    by_key = [await keyed.options(concurrency_key=f"k{n % KEYS}").delay(20) for n in range(KEYED)]
    rated = await chaos.queue.enqueue_many(  # 200/s
        [chaos.queue.tasks["rated"].call() for _ in range(RATED)])
    flow = held + by_key + rated
    sup = chaos.supervisor
    sup.concurrency = 50
    sup.start(3)
    kills: list[int] = []
    redis_killed = termed = False
    rss: dict[int, float] = {}
    began = time.monotonic()
    next_kill = began + rng.uniform(2, 4)
    next_drop = began + 5
    killed_at: dict[int, float] = {}
    outage = (0.0, 0.0)
    last_done, progressed = 0, began
    while (done := await completed(chaos.queue)) < total + len(flow):
        now = time.monotonic()
        if done != last_done:
            last_done, progressed = done, now
        assert now - progressed < STALL, (
            f"no job finished for {STALL:.0f} s, at {done}/{total + len(flow)}\n"
            + await locate(chaos.queue, [j.id for j in jobs + flow]))
        assert now - began < 150, f"soak too slow: {done}/{total}"
        if done >= total // 4 and not rss:
            rss = {w.pid: rss_mb(w.pid) for w in sup.workers.values()}
        if now >= next_kill:
            slot = rng.randrange(3)
            kills.append(sup.kill9(slot))
            killed_at[kills[-1]] = time.time()
            sup.restart(slot)
            next_kill = now + rng.uniform(2, 4)
        if now >= next_drop:
            chaos.server.drop_clients()
            next_drop = now + 5
        if done >= total // 2 and not redis_killed:
            redis_killed = True
            outage = (time.time() - 1.0, 0.0)  # appendfsync everysec: the last second is lost
            chaos.server.kill9()
            await anyio.sleep(1.0)  # down for a second
            chaos.server.restart()
            outage = (outage[0], time.time() + 1.0)
        if done >= total * 3 // 4 and not termed and (slot := _serving(sup, rng)) is not None:
            termed = True
            stopping = sup.term(slot).process
            assert await anyio.to_thread.run_sync(partial(stopping.wait, timeout=30)) == 0
            sup.restart(slot)
        await anyio.sleep(0.1)  # the monkey's tick
    ledger = Ledger.read(chaos.ledger)
    bound = sum(len(ledger.in_flight(pid)) for pid in kills) + 2 * 50  # + the Redis restart
    result = await check_invariants(
        chaos.queue, [j.id for j in jobs + flow], chaos.ledger, max_duplicates=bound,
        live_workers=3, supervisor=sup, drained_within=10,
    )
    exited = [w for w in sup.history if w.process.poll() is not None and not w.killed]
    assert not exited, "no worker exits unless killed"
    for pid, before in rss.items():
        if any(w.pid == pid and w.process.poll() is None for w in sup.workers.values()):
            assert rss_mb(pid) - before < 50, f"worker {pid} grew from {before} MB"
    # the limit holds while Redis keeps what it acknowledged: not for starts it may have lost
    # when it was SIGKILLed (tests/chaos/test_flow_faults.py proves it with fsync always)
    def kept(some: list[Job[Any]]) -> set[str]:
        return {job.id for job in some if not any(
            outage[0] <= t <= outage[1] for _, _, t in ledger.starts.get(job.id, []))}

    most = most_at_once(ledger, kept(held), killed_at)
    assert most <= 3, f"max_concurrency 3 was exceeded: {most} at once"
    for key in range(KEYS):
        of_key = kept(by_key[key::KEYS])
        assert most_at_once(ledger, of_key, killed_at) <= 1, f"key k{key} ran two at once"
    stamps = await started_at(chaos.queue, sorted(kept(rated)))
    window = most_in_a_window(stamps, 1.0)
    assert window <= 210, f"rate 200/s: {window} starts in one second"
    assert await leftovers(chaos) == [], "no slot, wait list or unique key is left behind"
    print(f"soak: {result}, {len(kills)} kills, {time.monotonic() - began:.1f} s; "
          f"limited: at most {most} at once; rated: at most {window} in a second")
