"""The event stream of a queue: every state change, written in the step that makes it, read by
any number of subscribers, resumable; with a real server and a real worker."""

from __future__ import annotations

import datetime
import functools
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from asyncjobs import (
    ConfigError,
    Context,
    Event,
    EventKind,
    JobCancelled,
    JobDeadLettered,
    JobExpired,
    JobFailed,
    Queue,
    Retry,
)
from tests.support.waiting import wait_until

from .conftest import running_worker

pytestmark = pytest.mark.anyio
E = EventKind


def register(queue: Queue, *, ghost: bool) -> dict[str, Any]:
    """The same tasks on a producer's queue and on the worker's (which lacks ``ghost``)."""

    @queue.task(name="add")
    async def add(ctx: Context, a: int, b: int) -> int:
        await ctx.progress(0.5, "halfway")
        return a + b

    @queue.task(name="flaky", retries=1)
    async def flaky(ctx: Context) -> None:
        if ctx.attempt == 1:
            raise Retry(delay=0.01)
        raise ValueError("still broken")

    tasks: dict[str, Any] = {"add": add, "flaky": flaky}
    if ghost:
        @queue.task(name="ghost")
        async def ghost_task() -> None:
            return None

        tasks["ghost"] = ghost_task
    return tasks


async def collect(queue: Queue, into: list[Event], **options: Any) -> None:
    async for event in queue.events(**options):
        into.append(event)  # noqa: PERF401  (the test reads the list as it grows)


def kinds_of(events: list[Event], job_id: str) -> list[EventKind]:
    return [e.kind for e in events if e.job_id == job_id]


async def test_three_subscribers_see_every_change_in_the_same_order(
    make_queue: Callable[..., Queue],
) -> None:
    queue = make_queue()
    producer = Queue(queue.name, queue.settings.redis_url, settings=queue.settings)
    register(queue, ghost=False)
    t = register(producer, ghost=True)
    seen: list[list[Event]] = [[], [], []]
    start = time.time()
    try:
        async with anyio.create_task_group() as subscribers:
            for into in seen:
                subscribers.start_soon(functools.partial(collect, queue, into, since=start))
            added = await t["add"].delay(1, 2)
            again = await t["add"].options(job_id=added.id).delay(1, 2)  # taken: no event
            assert again.id == added.id
            flaky = await t["flaky"].delay()
            ghost = await t["ghost"].delay()
            cancelled = await t["add"].options(delay=60).delay(0, 0)
            assert await cancelled.cancel()
            expired = await t["add"].options(expires=0.05).delay(0, 0)
            enqueued = time.time()  # its expiry is at most 0.05 s before this
            await wait_until(lambda: time.time() > enqueued + 0.1, 5, "the expiry to pass")
            async with running_worker(queue):
                assert await added.result(timeout=10) == 3
                with pytest.raises(JobFailed, match="still broken"):
                    await flaky.result(timeout=10)
                with pytest.raises(JobDeadLettered):
                    await ghost.result(timeout=10)
                with pytest.raises(JobExpired):
                    await expired.result(timeout=10)
            with pytest.raises(JobCancelled):
                await cancelled.result(timeout=10)
            last = (ghost.id, E.DEAD)
            await wait_until(lambda: all(any((e.job_id, e.kind) == last for e in s) for s in seen),
                             10, "every subscriber to see the last event")
            subscribers.cancel_scope.cancel()
    finally:
        await producer.aclose()
        await queue.aclose()
    first = seen[0]
    assert [e.position for e in seen[1]] == [e.position for e in first]
    assert [e.position for e in seen[2]] == [e.position for e in first]
    assert kinds_of(first, added.id) == [E.ENQUEUED, E.STARTED, E.PROGRESS, E.COMPLETED]
    assert kinds_of(first, flaky.id) == [E.ENQUEUED, E.STARTED, E.RETRYING, E.STARTED, E.FAILED]
    assert kinds_of(first, ghost.id) == [E.ENQUEUED, E.STARTED, E.DEAD]
    assert kinds_of(first, cancelled.id) == [E.ENQUEUED, E.CANCELLED]
    assert kinds_of(first, expired.id) == [E.ENQUEUED, E.EXPIRED]
    by_kind = {(e.job_id, e.kind): e.data for e in first}
    assert by_kind[(added.id, E.ENQUEUED)] == "add"
    assert by_kind[(added.id, E.PROGRESS)] == "0.5 halfway"
    assert by_kind[(ghost.id, E.DEAD)] == "unknown_task"
    assert by_kind[(flaky.id, E.STARTED)] == "2"  # the last one: its second attempt
    due, _, error = by_kind[(flaky.id, E.RETRYING)].partition(" ")
    assert float(due) > start and error.startswith("Retry: retry requested")
    assert all(start - 1 < e.at < time.time() + 1 for e in first)
    assert [e.position for e in first] == sorted(first_positions := [e.position for e in first],
                                                 key=_order)
    assert len(set(first_positions)) == len(first_positions)


def _order(position: str) -> tuple[int, int, int]:
    """A position's place: entry id, then its place among the entry's events."""
    entry, _, index = position.partition(".")
    millis, _, seq = entry.partition("-")
    return int(millis), int(seq), int(index or -1)


async def test_a_subscriber_resumes_from_a_position_a_time_or_the_start(queue: Queue) -> None:
    @queue.task
    async def noop(n: int) -> int:
        return n

    jobs = [await noop.delay(n) for n in range(5)]
    everything: list[Event] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: collect(queue, everything, since=0))
        await wait_until(lambda: len(everything) == 5, 10, "the five enqueued events")
        tg.cancel_scope.cancel()
    assert [e.job_id for e in everything] == [j.id for j in jobs]
    after_second: list[Event] = []
    from_third_on: list[Event] = []
    only_fourth: list[Event] = []
    when = datetime.datetime.fromtimestamp(everything[2].at, datetime.UTC)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: collect(queue, after_second, since=everything[1].position))
        tg.start_soon(lambda: collect(queue, from_third_on, since=when))
        tg.start_soon(lambda: collect(queue, only_fourth, since=0, job_id=jobs[3].id))
        await wait_until(lambda: len(after_second) == 3 and only_fourth, 10, "the replays")
        await wait_until(lambda: len(from_third_on) >= 3, 10, "the replay from a time")
        tg.cancel_scope.cancel()
    assert [e.job_id for e in after_second] == [j.id for j in jobs[2:]]
    assert [e.job_id for e in from_third_on][-3:] == [j.id for j in jobs[2:]]
    assert [e.job_id for e in only_fourth] == [jobs[3].id]


@pytest.mark.single_server("cuts the connections of one server with CLIENT KILL")
async def test_a_lost_connection_leaves_no_gap_and_no_duplicate(queue: Queue) -> None:
    @queue.task
    async def noop(n: int) -> int:
        return n

    got: list[Event] = []
    start = time.time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: collect(queue, got, since=start))
        first = [await noop.delay(n) for n in range(3)]
        await wait_until(lambda: len(got) == 3, 10, "the first events")
        killed = await queue.redis.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 1, "the subscriber's connection was cut"
        second = [await noop.delay(n) for n in range(3, 6)]
        await wait_until(lambda: len(got) >= 6, 10, "the events after the cut")
        tg.cancel_scope.cancel()
    assert [e.job_id for e in got] == [j.id for j in first + second]


async def test_with_events_off_nothing_is_written(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(events=False)

    @queue.task
    async def noop(ctx: Context) -> None:
        await ctx.progress(1.0)

    try:
        async with running_worker(queue):
            job = await noop.delay()
            await job.result(timeout=10)
        assert await queue.redis.exists(queue.keys.events) == 0
    finally:
        await queue.aclose()


async def test_bad_subscriptions_are_refused(queue: Queue) -> None:
    for since, message in (("yesterday", "not an event position"),
                           (datetime.datetime(2026, 1, 1), "aware datetime"),
                           (-5, "a position, a Unix time or a datetime")):
        with pytest.raises(ConfigError, match=message):
            await anext(queue.events(since=since))
    with pytest.raises(ConfigError, match="job id"):
        await anext(queue.events(job_id="bad id"))
    with pytest.raises(ConfigError, match="events_max_len"):
        queue.settings.__class__(events_max_len=0)


async def test_events_written_together_resume_from_any_one_of_them(queue: Queue) -> None:
    @queue.task
    async def noop(n: int) -> int:
        return n

    jobs = await queue.enqueue_many([noop.call(n) for n in range(5)])  # one entry, five events
    everything: list[Event] = []
    rest: list[Event] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(collect, queue, everything, since=0))
        await wait_until(lambda: len(everything) == 5, 10, "the five enqueued events")
        assert len({e.position.partition(".")[0] for e in everything}) == 1, "one entry"
        tg.start_soon(functools.partial(collect, queue, rest, since=everything[1].position))
        await wait_until(lambda: len(rest) == 3, 10, "the events after the second")
        tg.cancel_scope.cancel()
    assert [e.job_id for e in everything] == [j.id for j in jobs]
    assert [e.position for e in rest] == [e.position for e in everything[2:]]
