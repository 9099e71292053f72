"""A worker fetches ahead of its free slots only while its jobs end fast, and never more than its
concurrency ahead (worker/slots.py); the pace is read from a clock the test moves."""

from __future__ import annotations

import anyio
import pytest

from asyncjobs.worker.slots import AHEAD_FOR, PACE_EVERY, Slots

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def end(slots: Slots, n: int) -> None:
    for _ in range(n):
        slots.ended()


async def test_nothing_ahead_until_jobs_have_ended_at_a_pace() -> None:
    slots = Slots(10, clock=Clock())
    assert await slots.acquire(250) == 10
    with anyio.move_on_after(0.05) as waited:  # every slot taken, none ended: it waits
        await slots.acquire(250)
    assert waited.cancelled_caught


async def room(slots: Slots) -> int:
    """How many jobs a fetch may take now (taken, then given back)."""
    taken = await slots.acquire(250)
    slots.release(taken)
    return taken


async def test_ahead_follows_the_pace_of_the_last_jobs_and_stops_at_the_concurrency() -> None:
    clock = Clock()
    slots = Slots(10, clock=clock)
    for i in range(100):  # 1,000 jobs in PACE_EVERY
        clock.now = i * PACE_EVERY / 100
        assert await slots.acquire(250) == 10  # the pace is read once every PACE_EVERY
        end(slots, 10)
    clock.now = PACE_EVERY
    rate = 1000 / PACE_EVERY / 2  # halfway from none to this window's pace
    assert int(rate * AHEAD_FOR) == 50
    assert await room(slots) == 10 + 10  # far more than 10 ahead: 10
    for _ in range(8):  # then windows with no job ended: the ahead goes
        clock.now += PACE_EVERY * 1.1
        rate /= 2
        assert await room(slots) == 10 + min(10, int(rate * AHEAD_FOR))
    assert await room(slots) == 10


async def test_a_fetch_waiting_for_a_slot_takes_the_one_freed() -> None:
    clock = Clock()
    slots = Slots(4, clock=clock)
    await slots.acquire(250)
    end(slots, 4)
    clock.now += PACE_EVERY  # 80 a second: nothing ahead
    assert await slots.acquire(250) == 4
    got: list[int] = []
    async with anyio.create_task_group() as tg:
        async def fetch() -> None:
            got.append(await slots.acquire(250))
        tg.start_soon(fetch)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        slots.ended()  # one slot: one job
    assert got == [1]
