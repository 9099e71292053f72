"""Pipelines and dependencies through a worker's death: a worker SIGKILLed while pipeline
steps run (between their first and last steps). The ledger proves each step completed exactly
once and every pipeline's value is right; no waiting job or dependents set is left behind."""

from __future__ import annotations

from typing import Any

import pytest

from asyncjobs import Job
from tests.support.ledger import Ledger
from tests.support.scenario import Chaos
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio


async def test_a_worker_killed_between_pipeline_steps_runs_each_step_once(chaos: Chaos) -> None:
    tasks = chaos.queue.tasks
    pipelines = [tasks["fetch_step"].call(n).then(tasks["slow_step"], ms=400)
                 .then(tasks["last_step"]) for n in range(40)]
    handles: list[Job[Any]] = [await chaos.queue.enqueue(p) for p in pipelines]
    middle = {p.calls[1].job_id for p in pipelines}
    chaos.supervisor.start(2)

    def middle_running() -> set[int]:
        ledger = Ledger.read(chaos.ledger)
        return {pid for job in middle for pid, _, _ in ledger.starts.get(job, [])
                if not ledger.ends.get(job)}

    await wait_until(lambda: middle_running(), 30, "a middle step to run", chaos.snapshot)
    victim = next(iter(middle_running()))
    slot = next(s for s, w in chaos.supervisor.workers.items() if w.pid == victim)
    chaos.supervisor.kill9(slot)
    chaos.supervisor.spawn(slot)
    assert [await h.result(timeout=60) for h in handles] == [f"got {(n + 1) * 10}"
                                                              for n in range(40)]
    ledger = Ledger.read(chaos.ledger)
    steps = [call.job_id for p in pipelines for call in p.calls]
    assert all(len(ledger.ends.get(job, [])) == 1 for job in steps), "each step completed once"
    killed = {job for job in middle if any(pid == victim for pid, _, _ in ledger.starts[job])}
    print(f"{len(killed)} middle steps were running in the killed worker; all ran again once")
    assert killed, "the kill hit running steps"
    stats = await chaos.queue.inspect.stats()
    assert stats.get("complete") == 120 and stats.get("duplicate_completions", 0) == 0
    keys = chaos.queue.keys
    assert await chaos.queue.redis.hlen(keys.waiting) == 0
    assert await chaos.queue.redis.hlen(keys.after) == 0
    left = [k async for k in chaos.queue.redis.scan_iter(match=f"{keys.key_base}dependents:*")]
    assert left == []
