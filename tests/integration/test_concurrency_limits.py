"""Global concurrency limits against a real server and several real workers: at most
``max_concurrency`` jobs of a task and ``key_concurrency`` of a key run at once across every
worker, a job waiting for a slot holds no worker slot, and slots are freed however a job ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import anyio
import pytest

from asyncjobs import ConfigError, Job, JobCancelled, JobFailed, Queue, RateLimit, Settings
from tests.support.rates import most_in_a_window, started_at
from tests.support.waiting import wait_until

from .conftest import running_worker

pytestmark = pytest.mark.anyio


class Gauge:
    """How many runs are under way now, and the most there ever were (per key)."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}

    async def run(self, key: str, seconds: float) -> None:
        self.now[key] = self.now.get(key, 0) + 1
        self.most[key] = max(self.most.get(key, 0), self.now[key])
        try:
            await anyio.sleep(seconds)
        finally:
            self.now[key] -= 1


async def conc_keys(queue: Queue) -> list[str]:
    return [key.decode() async for key in queue.redis.scan_iter(match=f"{queue.keys.conc_prefix}*")]


async def all_started_at(queue: Queue, jobs: list[Job[Any]]) -> list[float]:
    """When the limiter let each job start, in order (every job started)."""
    times = await started_at(queue, [job.id for job in jobs])
    assert len(times) == len(jobs), "every job started"
    return times


async def test_max_concurrency_holds_across_workers(queue: Queue) -> None:
    gauge = Gauge()

    @queue.task(max_concurrency=3)
    async def render(n: int) -> int:
        await gauge.run("render", 0.05)
        return n

    jobs = await queue.enqueue_many([render.call(n) for n in range(30)])
    async with AsyncExitStack() as stack:
        for _ in range(3):  # three workers of 10 slots each
            await stack.enter_async_context(running_worker(queue, concurrency=10))
        assert sorted([await job.result(timeout=20) for job in jobs]) == list(range(30))
    assert gauge.most["render"] == 3, "the limit is reached and never exceeded"
    assert await conc_keys(queue) == [], "no slot or wait list is left behind"


async def test_key_concurrency_runs_each_key_alone_and_keys_in_parallel(queue: Queue) -> None:
    gauge = Gauge()

    @queue.task(key_concurrency=1)
    async def sync_customer(customer: str, n: int) -> int:
        await gauge.run(customer, 0.03)
        await gauge.run("all", 0)
        return n

    calls = [sync_customer.options(concurrency_key=f"c-{n % 3}").call(f"c-{n % 3}", n)
             for n in range(18)]
    jobs = await queue.enqueue_many(calls)
    async with running_worker(queue, concurrency=20):
        assert sorted([await job.result(timeout=20) for job in jobs]) == list(range(18))
    assert {key: gauge.most[key] for key in ("c-0", "c-1", "c-2")} == {"c-0": 1, "c-1": 1, "c-2": 1}
    assert await conc_keys(queue) == []


async def test_a_job_waiting_for_a_slot_holds_no_worker_slot(queue: Queue) -> None:
    release = anyio.Event()

    @queue.task(max_concurrency=1)
    async def exclusive(n: int) -> int:
        await release.wait()
        return n

    @queue.task
    async def other(n: int) -> int:
        return n

    blocked = await queue.enqueue_many([exclusive.call(n) for n in range(5)])
    async with running_worker(queue, concurrency=2):
        others = [await other.delay(n) for n in range(10)]
        assert [await job.result(timeout=5) for job in others] == list(range(10)), \
            "four waiting jobs and one running take one worker slot, not two"
        release.set()
        assert [await job.result(timeout=5) for job in blocked] == list(range(5))
    assert await conc_keys(queue) == []


async def test_slots_are_freed_however_a_job_ends(queue: Queue) -> None:
    attempts: list[int] = []
    release = anyio.Event()

    @queue.task(max_concurrency=1, retries=1, retry_backoff=0.05)
    async def limited(kind: str) -> str:
        attempts.append(1)
        if kind == "fail":
            raise RuntimeError("no")
        if kind == "hold":
            await release.wait()
        return kind

    async with running_worker(queue, concurrency=4):
        failing = await limited.delay("fail")  # fails twice (a retry between): frees the slot
        with pytest.raises(JobFailed):
            await failing.result(timeout=5)
        holding = await limited.delay("hold")
        waiting = await limited.delay("wait")
        await wait_until(lambda: len(attempts) == 3, what="the holding job to start")
        assert await waiting.cancel()  # cancelled while it waits for the slot
        assert await holding.cancel()  # cancelled while it runs: its slot comes back
        with pytest.raises(JobCancelled):
            await holding.result(timeout=5)
        after = await limited.delay("after")
        assert await after.result(timeout=5) == "after"
    assert len(attempts) == 4, "the cancelled waiting job never ran"
    assert await conc_keys(queue) == []


@pytest.mark.parametrize(("decorator", "options", "message"), [
    ({"max_concurrency": 0}, {}, "max_concurrency must be a positive int"),
    ({"key_concurrency": -1}, {}, "key_concurrency must be a positive int"),
    ({}, {"concurrency_key": "k"}, "concurrency_key needs @queue.task\\(key_concurrency=...\\)"),
    ({"key_concurrency": 1}, {"concurrency_key": "a b"}, "concurrency_key 'a b' must match"),
])
async def test_bad_limits_are_refused_before_anything_is_written(
    make_queue: Callable[..., Queue], decorator: dict[str, Any], options: dict[str, Any],
    message: str,
) -> None:
    queue = make_queue()

    async def work() -> None:
        return None

    with pytest.raises(ConfigError, match=message):
        queue.task(**decorator)(work).options(**options)
    assert await queue.redis.exists(queue.keys.queued) == 0
    await queue.aclose()


@pytest.mark.parametrize("rate", ["100", "100/x", "-1/s", "0/s", "ten/s", RateLimit(0)])
async def test_a_bad_rate_limit_is_refused_at_decoration(queue: Queue, rate: Any) -> None:
    async def work() -> None:
        return None

    with pytest.raises(ConfigError, match="rate"):
        queue.task(rate_limit=rate)(work)
    assert queue.tasks == {}


@pytest.mark.parametrize("rate", ["100", "0/s", RateLimit(3, per=0)])
def test_a_bad_queue_rate_limit_is_refused_by_the_settings(rate: Any) -> None:
    with pytest.raises(ConfigError, match="Settings: .*rate"):
        Settings(rate_limit=rate)


def test_rates_per_second_minute_and_hour() -> None:
    assert [RateLimit.parse(text).wire() for text in ("100/s", "5/m", "1000/h")] \
        == ["100/1000", "5/60000", "1000/3600000"]


async def test_a_queue_rate_limit_holds_over_all_its_tasks_beside_their_own(
    make_queue: Callable[..., Queue],
) -> None:
    queue = make_queue(rate_limit="20/s")

    @queue.task
    async def a(n: int) -> int:
        return n

    @queue.task
    async def b(n: int) -> int:
        return n

    @queue.task(rate_limit="5/s")
    async def slow(n: int) -> int:
        return n

    calls = [a.call(n) for n in range(15)] + [b.call(n) for n in range(15)]
    jobs = await queue.enqueue_many([*calls, *[slow.call(n) for n in range(6)]])
    async with running_worker(queue, concurrency=50):
        results = [await job.result(timeout=15) for job in jobs]
    assert results == [*range(15), *range(15), *range(6)]
    every = await all_started_at(queue, jobs)
    # 36 starts at 20/s with a burst of 1: each one at least half an interval after the one
    # before (the least tolerance), no second holds over 21. In order: the 30 others take 1.5 s,
    # then slow's 6 at their own 5/s take 1 s more (the upper bound leaves a loaded machine half
    # as much again)
    expected = 30 / 20 + 5 / 5
    assert 35 / 20 * 0.9 <= every[-1] - every[0] <= expected * 1.5, "the rates, no slower"
    assert most_in_a_window(every, 1.0) <= 21
    # and the task's own rate, 5/s, holds among them: 6 starts span at least 5 intervals, less
    # the least tolerance (50 ms)
    own = await all_started_at(queue, jobs[30:])
    assert own[-1] - own[0] >= 5 / 5 - 0.05
    await queue.aclose()


async def test_jobs_over_a_rate_wait_in_the_schedule_not_in_a_worker(queue: Queue) -> None:
    starts: list[float] = []

    @queue.task(rate_limit=RateLimit(20, per=timedelta(seconds=1)))
    async def call_crm(n: int) -> int:
        starts.append(time.time())
        return n

    @queue.task
    async def other() -> str:
        return "other"

    jobs = await queue.enqueue_many([call_crm.call(n) for n in range(30)])
    async with running_worker(queue, concurrency=2):
        await wait_until(lambda: len(starts) >= 2, what="the first starts")
        counts = await queue.inspect.counts()
        assert counts.scheduled > 0 and counts.running <= 2, "jobs over the rate wait in Redis"
        assert counts.scheduled + counts.pending > 20, "the rest wait in Redis, not in a worker"
        assert await (await other.delay()).result(timeout=2) == "other", "not held up"
        assert sorted([await job.result(timeout=10) for job in jobs]) == list(range(30))
    times = await all_started_at(queue, jobs)
    span = times[-1] - times[0]
    assert 29 / 20 * 0.9 <= span, f"30 starts at 20/s (burst 1) took {span:.2f} s"
    # and no slower: the schedule's jitter costs no turns (30% more leaves a loaded machine
    # room; with a turn lost at each job back less late than the one before, 2.25-2.45 s)
    assert span <= 29 / 20 * 1.3, f"30 starts at 20/s (burst 1) took {span:.2f} s"
    assert most_in_a_window(times, 1.0) <= 21


async def test_jobs_whose_turns_passed_with_no_worker_running_do_not_all_start_at_once(
    queue: Queue,
) -> None:
    """Jobs held up together past their turns (no worker ran) do not all start when they come
    back: the tolerance a returning job has is the schedule's jitter, not the time it waited."""
    starts: list[float] = []

    @queue.task(rate_limit="20/s")
    async def call_crm(n: int) -> int:
        starts.append(time.time())
        return n

    jobs = await queue.enqueue_many([call_crm.call(n) for n in range(40)])
    async with running_worker(queue, concurrency=2):
        await wait_until(lambda: len(starts) >= 5, what="the first starts")
    # the others wait in the schedule for their turns, the last about 2 s away: let them pass
    last = await queue.redis.zrange(queue.keys.scheduled, -1, -1, withscores=True)
    assert last, "the jobs over the rate wait in the schedule"
    [(_, last_turn)] = last
    await wait_until(lambda: time.time() > last_turn + 0.2, 10, "every turn to pass")
    async with running_worker(queue, concurrency=2):
        assert sorted([await job.result(timeout=15) for job in jobs]) == list(range(40))
    assert most_in_a_window(await all_started_at(queue, jobs), 1.0) <= 21
