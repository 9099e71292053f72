"""The pure parts of schedules: slots of cron expressions (time zones, DST) and intervals, the
due-slot and misfire decision, the spec checks, and the state and job id formats."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from asyncjobs import ConfigError
from asyncjobs.protocol import (
    ScheduleSpec,
    ScheduleState,
    decode_schedule_state,
    format_slot,
    schedule_job_id,
)
from asyncjobs.schedule import Due, Timetable, baseline, decide, describe, make_spec, same_schedule

PARIS = ZoneInfo("Europe/Paris")


def spec(cron: str | None = None, every: float | timedelta | None = None, tz: str = "UTC",
         created_at: float = 0.0, grace: float = 60.0) -> ScheduleSpec:
    return make_spec("s", task="t", args=b"\x90", cron=cron, every=every, tz=tz,
                     misfire_grace=grace, skip_if_running=True, from_code=False,
                     created_at=created_at)


def ts(*parts: int, tz: ZoneInfo = PARIS) -> float:
    return datetime(*parts, tzinfo=tz).timestamp()  # type: ignore[misc]


def test_interval_slots_are_multiples_of_the_interval_since_the_epoch() -> None:
    table = Timetable(spec(every=timedelta(seconds=30)))
    assert table.latest(1000.0) == 990.0 and table.latest(990.0) == 990.0
    assert table.next_after(990.0) == 1020.0 and table.next_after(1000.5) == 1020.0
    assert table.count(990.0, 1080.0) == 3 and table.count(989.9, 1080.0) == 4
    assert table.count(1080.0, 990.0) == 0
    fine = Timetable(spec(every=0.25))
    assert fine.latest(10.3) == 10.25 and fine.next_after(10.25) == 10.5


def test_cron_slots_are_read_in_the_time_zone() -> None:
    table = Timetable(spec("30 3 * * *", tz="Europe/Paris"))
    now = ts(2024, 1, 10, 12, 0)
    assert table.latest(now) == ts(2024, 1, 10, 3, 30)
    assert table.next_after(now) == ts(2024, 1, 11, 3, 30)
    assert table.latest(ts(2024, 1, 10, 3, 30)) == ts(2024, 1, 10, 3, 30)  # a slot is due at its time
    assert table.next_after(ts(2024, 1, 10, 3, 30)) == ts(2024, 1, 11, 3, 30)
    assert table.count(ts(2024, 1, 1, 0, 0), ts(2024, 1, 10, 3, 30)) == 10
    utc = Timetable(spec("30 3 * * *"))
    assert utc.next_after(now) - table.next_after(now) == 3600  # Paris is UTC+1 in winter


def test_cron_slots_across_daylight_saving_changes() -> None:
    table = Timetable(spec("30 2 * * *", tz="Europe/Paris"))
    # 2024-03-31: 02:00 -> 03:00 in Paris, so 02:30 does not exist: it runs at 03:00 (as cron does)
    spring = table.next_after(ts(2024, 3, 30, 12, 0))
    assert spring == ts(2024, 3, 31, 3, 0)
    # 2024-10-27: 03:00 -> 02:00, so 02:30 happens twice: it runs once
    autumn = table.next_after(ts(2024, 10, 26, 12, 0))
    assert autumn is not None and table.next_after(autumn) == ts(2024, 10, 28, 2, 30)
    hourly = Timetable(spec("0 * * * *", tz="Europe/Paris"))
    start = ts(2024, 3, 31, 0, 30)
    slots = []
    at: float | None = start
    for _ in range(4):
        assert at is not None
        at = hourly.next_after(at)
        slots.append(at)
    assert [b - a for a, b in zip(slots, slots[1:], strict=False)] == [3600.0] * 3  # real hours


def test_nothing_is_due_up_to_the_baseline() -> None:
    table = Timetable(spec(every=10))
    assert decide(table, 100.0, 105.0, 60) is None
    assert decide(table, 100.0, 100.0, 60) is None
    assert decide(table, 100.0, 110.0, 60) == Due(110.0, True, 0)


def test_a_missed_slot_runs_within_its_grace_and_only_the_latest() -> None:
    table = Timetable(spec(every=10))
    assert decide(table, 100.0, 111.0, 60) == Due(110.0, True, 0)
    assert decide(table, 100.0, 145.0, 60) == Due(140.0, True, 3)  # 110, 120, 130 folded
    assert decide(table, 100.0, 145.0, 5) == Due(140.0, True, 3)
    assert decide(table, 100.0, 145.5, 5) == Due(140.0, False, 3)  # past its grace: skipped too
    hourly = Timetable(spec("0 * * * *"))
    assert decide(hourly, ts(2024, 1, 1, 0, 0), ts(2024, 1, 1, 5, 0, 30), 60) == Due(
        ts(2024, 1, 1, 5, 0), True, 4)


def test_the_baseline_is_the_last_slot_handled_or_a_later_creation() -> None:
    s = spec(every=10, created_at=1000.5)
    assert baseline(s, None) == 1000.5
    assert baseline(s, ScheduleState(990.0, None, None)) == 1000.5  # replaced after its last slot
    assert baseline(s, ScheduleState(1010.0, 1010.0, "cron:s:1010")) == 1010.0


@pytest.mark.parametrize(
    ("cron", "every", "tz", "grace", "message"),
    [
        ("* * * *", None, "UTC", 60.0, "5-field"),
        ("0 0 * * * *", None, "UTC", 60.0, "5-field"),
        ("0 25 * * *", None, "UTC", 60.0, "invalid cron expression"),
        ("0 0 31 2 *", None, "UTC", 60.0, "invalid cron expression"),
        ("nonsense x y z w", None, "UTC", 60.0, "invalid cron expression"),
        ("0 0 * * *", None, "Nowhere/City", 60.0, "unknown time zone"),
        ("0 0 * * *", None, "../etc/passwd", 60.0, "unknown time zone"),
        ("0 0 * * *", 10.0, "UTC", 60.0, "exactly one"),
        (None, None, "UTC", 60.0, "exactly one"),
        (None, 0.0, "UTC", 60.0, "positive"),
        (None, -1.0, "UTC", 60.0, "positive"),
        (None, 0.0001, "UTC", 60.0, "positive"),
        (None, float("inf"), "UTC", 60.0, "finite"),
        (None, 10.0, "UTC", -1.0, "negative"),
    ],
)
def test_bad_schedules_are_refused(
    cron: str | None, every: float | None, tz: str, grace: float, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_spec("s", task="t", args=b"", cron=cron, every=every, tz=tz, misfire_grace=grace,
                  skip_if_running=True, from_code=False, created_at=0.0)


@pytest.mark.parametrize("name", ["", "a b", "a:b", "x" * 101, "a{b}"])
def test_bad_schedule_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="schedule name"):
        spec_named(name)


def spec_named(name: str) -> ScheduleSpec:
    return make_spec(name, task="t", args=b"", cron=None, every=1, tz="UTC", misfire_grace=1,
                     skip_if_running=True, from_code=False, created_at=0.0)


def test_slot_job_ids_and_state_round_trip() -> None:
    assert format_slot(1700000000.0) == "1700000000" and format_slot(10.25) == "10.25"
    assert schedule_job_id("nightly-42", 1700000000.0) == "cron:nightly-42:1700000000"
    assert decode_schedule_state(b"20 10 cron:s:10") == ScheduleState(20.0, 10.0, "cron:s:10")
    assert decode_schedule_state(b"20 - -") == ScheduleState(20.0, None, None)
    assert decode_schedule_state(None) is None and decode_schedule_state(b"junk") is None


def test_describe_and_same_schedule() -> None:
    s = spec("0 3 * * *", tz="Europe/Paris", created_at=ts(2024, 1, 1, 0, 0))
    info = describe(s, ScheduleState(ts(2024, 1, 9, 3, 0), ts(2024, 1, 8, 3, 0), "x"),
                    ts(2024, 1, 9, 12, 0))
    assert info.next_run == datetime(2024, 1, 10, 3, 0, tzinfo=PARIS)
    assert info.last_run == datetime(2024, 1, 8, 3, 0, tzinfo=PARIS)
    assert same_schedule(s, spec("0 3 * * *", tz="Europe/Paris", created_at=5.0))
    assert not same_schedule(s, spec("0 4 * * *", tz="Europe/Paris"))
