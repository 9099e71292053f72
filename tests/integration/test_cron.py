"""Cron and interval schedules against a real server: slots run on time and once, stored
schedules round trip, misfires and skips are decided and counted, bad input writes nothing;
and, with worker processes, six schedulers enqueue each slot once and a SIGKILL of the worker
running a slot's job recovers that job without enqueueing the slot again."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest

from asyncjobs import ConfigError, Context, Queue, TaskArgumentError
from asyncjobs.protocol import ENCODER, Stat, format_slot, schedule_job_id
from asyncjobs.schedule import Timetable, make_spec
from tests.support import chaos_app as app
from tests.support.ledger import Ledger
from tests.support.supervisor import Supervisor
from tests.support.waiting import wait_until

from .conftest import running_worker

pytestmark = pytest.mark.anyio


def _slot(job_id: str) -> float:
    return float(job_id.rsplit(":", 1)[1])


async def _stat(queue: Queue, stat: Stat) -> int:
    return (await queue.inspect.stats()).get(stat.value, 0)


CREATED_AGO = 5 * 3600


def _hourly_latest() -> float:
    latest = Timetable(make_spec("x", task="t", args=b"", cron=None, every=3600, tz="UTC",
                                 misfire_grace=0, skip_if_running=True, from_code=False,
                                 created_at=0)).latest(time.time())
    assert latest is not None
    return latest


async def _write_spec(queue: Queue, name: str, **options: Any) -> float:
    """Store a schedule as if it had been made long ago (a schedule that lived through an
    outage): its creation time, returned, is five hours back."""
    created_at = time.time() - CREATED_AGO
    spec = make_spec(name, task=options.pop("task"), args=ENCODER.encode([]),
                     cron=options.pop("cron", None), every=options.pop("every", None),
                     tz="UTC", misfire_grace=options.pop("misfire_grace", 60.0),
                     skip_if_running=True, from_code=False, created_at=created_at)
    await queue.redis.hset(queue.keys.schedules, name, ENCODER.encode(spec))
    return created_at


async def test_an_interval_schedule_runs_each_slot_on_time(queue: Queue) -> None:
    runs: list[tuple[str, float]] = []

    @queue.cron(every=timedelta(seconds=1), name="beat", task_name="beat")
    async def beat(ctx: Context) -> None:
        runs.append((ctx.job_id, time.time()))

    async with running_worker(queue):
        await wait_until(lambda: len(runs) >= 3, 10, "three runs")
    slots = [_slot(job_id) for job_id, _ in runs]
    assert [b - a for a, b in zip(slots, slots[1:], strict=False)] == [1.0] * (len(slots) - 1)
    assert all(job_id == schedule_job_id("beat", _slot(job_id)) for job_id, _ in runs)
    late = [round(at - _slot(job_id), 3) for job_id, at in runs]
    assert all(0 <= s < 1.0 for s in late), late
    [info] = await queue.schedules()
    assert info.name == "beat" and info.task == "beat" and info.from_code
    assert info.every == timedelta(seconds=1) and info.cron is None
    assert info.last_run is not None and info.next_run is not None
    assert info.last_run.timestamp() >= slots[-1] and info.next_run > info.last_run


async def test_a_schedules_jobs_have_its_priority(queue: Queue) -> None:
    ids: list[str] = []

    @queue.cron(every=timedelta(seconds=1), name="urgent", task_name="urgent", priority=6)
    async def urgent(ctx: Context) -> None:
        ids.append(ctx.job_id)

    @queue.task(name="report")
    async def report(ctx: Context, n: int) -> None:
        ids.append(ctx.job_id)

    await queue.schedule("reports", report.options(priority=8).call(1), every=1)
    async with running_worker(queue):
        await wait_until(lambda: {i.split(":")[1] for i in ids} == {"urgent", "reports"}, 10,
                         "a run of each schedule")
    infos = {job_id.split(":")[1]: await queue.inspect.job(job_id) for job_id in ids}
    assert {name: info.priority for name, info in infos.items() if info} == {
        "urgent": 6, "reports": 8}


async def test_a_cron_schedule_computes_its_next_run_in_its_time_zone(queue: Queue) -> None:
    @queue.task(name="report")
    async def report(n: int) -> int:
        return n

    info = await queue.schedule("nightly-42", report.call(42), cron="30 3 * * *", tz="Europe/Paris")
    paris = ZoneInfo("Europe/Paris")
    now = datetime.now(paris)
    expected = now.replace(hour=3, minute=30, second=0, microsecond=0)
    if expected <= now:
        expected = (expected + timedelta(days=1)).replace(hour=3, minute=30)
    assert info.next_run == expected and info.next_run is not None
    assert info.next_run.tzinfo == paris and info.next_run.hour == 3
    [listed] = await queue.schedules()
    assert listed == info
    assert (listed.cron, listed.tz, listed.every, listed.last_run) == (
        "30 3 * * *", "Europe/Paris", None, None)


async def test_schedule_unschedule_and_replace_by_name(queue: Queue) -> None:
    @queue.task(name="report")
    async def report(n: int) -> int:
        return n

    assert await queue.schedules() == []
    await queue.schedule("nightly-42", report.call(42), cron="0 3 * * *")
    await queue.schedule("hourly", report.call(1), every=3600, misfire_grace=5,
                         skip_if_running=False)
    listed = {info.name: info for info in await queue.schedules()}
    assert set(listed) == {"hourly", "nightly-42"}
    assert listed["hourly"].every == timedelta(hours=1) and not listed["hourly"].skip_if_running
    assert listed["hourly"].misfire_grace == 5 and not listed["hourly"].from_code

    await queue.schedule("nightly-42", report.call(43), every=timedelta(minutes=5))
    replaced = {info.name: info for info in await queue.schedules()}["nightly-42"]
    assert replaced.cron is None and replaced.every == timedelta(minutes=5)
    assert len(await queue.schedules()) == 2

    assert await queue.unschedule("nightly-42") is True
    assert await queue.unschedule("nightly-42") is False
    assert [info.name for info in await queue.schedules()] == ["hourly"]
    assert await queue.unschedule("hourly") is True
    assert await queue.redis.exists(queue.keys.schedules, queue.keys.schedule_state) == 0


async def test_a_missed_slot_within_its_grace_runs_once(queue: Queue) -> None:
    runs: list[str] = []

    @queue.task(name="catch-up")
    async def catch_up(ctx: Context) -> None:
        runs.append(ctx.job_id)

    # an hourly schedule whose state says it last ran three hours ago: the latest slot (the
    # last whole hour) runs, the two before it are folded into it and counted as misfires
    await _write_spec(queue, "hourly", task="catch-up", every=3600, misfire_grace=7200)
    latest = _hourly_latest()
    await queue.redis.hset(queue.keys.schedule_state, "hourly", f"{format_slot(latest - 3 * 3600)} - -")
    async with running_worker(queue), running_worker(queue):
        await wait_until(lambda: runs, 10, "the latest missed slot to run")
        await wait_until(lambda: _stat(queue, Stat.SCHEDULE_MISFIRES), 5, "the misfires counted")
        state = await queue.redis.hget(queue.keys.schedule_state, "hourly")
    assert runs == [schedule_job_id("hourly", latest)]
    assert await _stat(queue, Stat.SCHEDULE_MISFIRES) == 2
    job = schedule_job_id("hourly", latest)
    assert state == f"{format_slot(latest)} {format_slot(latest)} {job}".encode()
    [info] = await queue.schedules()
    assert info.last_run is not None and info.last_run.timestamp() == latest


async def test_a_missed_slot_past_its_grace_is_skipped_and_counted(queue: Queue) -> None:
    runs: list[str] = []

    @queue.task(name="late")
    async def late(ctx: Context) -> None:
        runs.append(ctx.job_id)

    created_at = await _write_spec(queue, "hourly", task="late", every=3600, misfire_grace=0.001)
    latest = _hourly_latest()
    async with running_worker(queue):
        await wait_until(lambda: _stat(queue, Stat.SCHEDULE_MISFIRES), 10, "a misfire counted")
        state = await queue.redis.hget(queue.keys.schedule_state, "hourly")
    assert runs == []
    assert state == f"{format_slot(latest)} - -".encode()  # handled, never run
    # every hourly slot since the schedule was made: the latest past its grace, the others folded
    missed = (await queue.inspect.counts()).schedule_misfires
    assert missed == round((latest - created_at) // 3600) + 1 == 5
    assert await queue.inspect.job(schedule_job_id("hourly", latest)) is None


async def test_a_slot_is_skipped_while_the_previous_run_is_running(queue: Queue) -> None:
    started: list[str] = []
    release = anyio.Event()

    @queue.cron(every=timedelta(seconds=0.5), name="slow", task_name="slow")
    async def slow(ctx: Context) -> None:
        started.append(ctx.job_id)
        await release.wait()

    async with running_worker(queue):
        await wait_until(lambda: started, 10, "the first run")
        await wait_until(lambda: _stat(queue, Stat.SCHEDULE_SKIPS), 5, "a skipped slot")
        assert len(started) == 1
        skips = await _stat(queue, Stat.SCHEDULE_SKIPS)
        release.set()
        await wait_until(lambda: len(started) >= 2, 10, "a run after the first one ended")
    first, second = _slot(started[0]), _slot(started[1])
    assert second - first >= 0.5 * (skips + 1)
    counts = await queue.inspect.counts()
    assert counts.schedule_skips >= skips


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (("*/5 * * *",), {}, "5-field"),
        (("*/5 * * * * *",), {}, "5-field"),
        (("61 * * * *",), {}, "invalid cron expression"),
        (("0 3 * * *",), {"tz": "Mars/Olympus"}, "unknown time zone"),
        (("0 3 * * *",), {"every": 60}, "exactly one"),
        ((), {}, "exactly one"),
        ((), {"every": 0}, "positive"),
        ((), {"every": timedelta(seconds=-5)}, "positive"),
        ((), {"every": 60, "misfire_grace": -1}, "negative"),
        ((), {"every": 60, "name": "bad name"}, "schedule name"),
    ],
)
async def test_bad_schedules_raise_and_write_nothing(
    queue: Queue, args: tuple[str, ...], options: dict[str, Any], message: str
) -> None:
    @queue.task(name="report")
    async def report(n: int) -> int:
        return n

    with pytest.raises(ConfigError, match=message):
        queue.cron(*args, **options)(_no_args)
    with pytest.raises(ConfigError, match=message):
        await queue.schedule(options.pop("name", "s"), report.call(1),
                             cron=args[0] if args else None, **options)
    assert set(queue.tasks) == {"report"} and queue.cron_schedules == {}
    assert await queue.redis.exists(queue.keys.schedules, queue.keys.schedule_state) == 0


async def test_a_cron_task_that_needs_arguments_is_refused(queue: Queue) -> None:
    async def needs(ctx: Context, n: int) -> int:
        return n

    async def defaults(ctx: Context, n: int = 3) -> int:
        return n

    with pytest.raises(ConfigError, match="takes arguments"):
        queue.cron(every=60, name="needs", task_name="needs")(needs)
    with pytest.raises(ConfigError, match="name="):  # a task name that cannot name a schedule
        queue.cron(every=60, task_name="a b")(defaults)
    assert queue.tasks == {} and queue.cron_schedules == {}
    task = queue.cron(every=60, name="defaults", task_name="defaults")(defaults)
    assert task.name == "defaults" and set(queue.cron_schedules) == {"defaults"}
    with pytest.raises(ConfigError, match="already has a schedule"):
        queue.cron(every=60, name="defaults", task_name="other")(defaults)
    assert set(queue.tasks) == {"defaults"}
    assert await queue.redis.exists(queue.keys.schedules) == 0  # written by workers, not here


async def test_a_stored_schedule_whose_call_lacks_arguments_is_refused(queue: Queue) -> None:
    @queue.task(name="report")
    async def report(n: int) -> int:
        return n

    with pytest.raises(TaskArgumentError, match="report"):
        await queue.schedule("nightly", report.call(), cron="0 3 * * *")  # type: ignore[call-arg]
    assert await queue.schedules() == []
    assert await queue.redis.exists(queue.keys.schedules, queue.keys.schedule_state) == 0


async def _no_args() -> None:
    return None


# -- with worker processes ----------------------------------------------------------------------


@pytest.fixture
async def fleet(redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Queue, Supervisor, Path]]:
    """Worker processes serving the chaos app on a fresh queue, its ledger, and a producer."""
    name = f"cron-{uuid.uuid4().hex[:8]}"
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    env = {**os.environ, "ASYNCJOBS_REDIS_URL": redis_url, "ASYNCJOBS_CHAOS_QUEUE": name,
           "ASYNCJOBS_CHAOS_LEDGER": str(ledger)}
    supervisor = Supervisor(env, tmp_path)
    producer = Queue(name, redis_url, settings=app.SETTINGS)
    try:
        yield producer, supervisor, ledger
    finally:
        supervisor.stop_all()
        await producer.aclose()


async def _alive(queue: Queue, n: int) -> bool:
    return sum(w.alive for w in await queue.inspect.workers()) >= n


def _runs(ledger: Path, name: str) -> dict[float, list[tuple[int, int, float]]]:
    """The runs (pid, attempt, start time) of each slot of a schedule, by slot, oldest first."""
    starts = Ledger.read(ledger).starts
    return {_slot(job): sorted(runs, key=lambda run: run[2]) for job, runs in starts.items()
            if job.startswith(f"cron:{name}:")}


@pytest.mark.slow
async def test_six_worker_processes_enqueue_each_slot_exactly_once(
    fleet: tuple[Queue, Supervisor, Path],
) -> None:
    queue, supervisor, ledger = fleet
    supervisor.start(6)
    await wait_until(lambda: _alive(queue, 6), 30, "six workers registered", supervisor.stderr)
    await queue.schedule("tick", app.work.call(0), every=timedelta(seconds=1))
    await wait_until(lambda: len(_runs(ledger, "tick")) >= 10, 30, "ten slots run",
                     supervisor.stderr)
    await queue.unschedule("tick")
    await wait_until(lambda: _quiet(queue), 10, "the last slot's job done")
    runs = _runs(ledger, "tick")
    slots = sorted(runs)
    assert {slot: len(r) for slot, r in runs.items() if len(r) != 1} == {}, "a slot ran twice"
    assert [b - a for a, b in zip(slots, slots[1:], strict=False)] == [1.0] * (len(slots) - 1), slots
    assert len({pid for r in runs.values() for pid, _, _ in r}) >= 1
    stats = await queue.inspect.stats()
    assert stats.get("complete", 0) == len(slots), stats
    assert stats.get(Stat.SCHEDULE_MISFIRES.value, 0) == 0, stats


async def _quiet(queue: Queue) -> bool:
    counts = await queue.inspect.counts()
    return counts.pending == 0 and counts.running == 0


@pytest.mark.slow
async def test_a_killed_workers_cron_job_is_recovered_and_its_slot_not_enqueued_again(
    fleet: tuple[Queue, Supervisor, Path],
) -> None:
    queue, supervisor, ledger = fleet
    supervisor.start(2)
    await wait_until(lambda: _alive(queue, 2), 30, "two workers registered", supervisor.stderr)
    # a slot every 2 s whose job takes 1.5 s: the victim is killed in the middle of one
    await queue.schedule("hold", app.work.call(1500), every=timedelta(seconds=2))
    await wait_until(lambda: _runs(ledger, "hold"), 30, "a slot's job running", supervisor.stderr)
    slot = min(_runs(ledger, "hold"))
    [(pid, _, _)] = _runs(ledger, "hold")[slot]
    victim = next(w.slot for w in supervisor.workers.values() if w.pid == pid)
    supervisor.kill9(victim)
    job_id = schedule_job_id("hold", slot)
    assert await queue.result(job_id, timeout=30) == 1500  # recovered and run to its end
    await wait_until(lambda: len(_runs(ledger, "hold")) >= 3, 30, "two more slots run",
                     supervisor.stderr)
    await queue.unschedule("hold")
    runs = _runs(ledger, "hold")
    assert [attempt for _, attempt, _ in runs[slot]] == [1, 2]  # the same job, recovered
    assert [p for p, _, _ in runs[slot]][0] == pid and runs[slot][1][0] != pid
    assert all(len(r) == 1 for s, r in runs.items() if s != slot), runs
    info = await queue.inspect.job(job_id)
    assert info is not None and info.attempts == 2
    assert (await queue.inspect.stats()).get("recovered", 0) == 1
