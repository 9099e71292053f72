"""Cron and interval schedules: checking a schedule, computing its slots, and deciding what to
do with a due slot. Pure: no Redis here (the worker's ``scheduler`` runs them, ``fire.lua``
records each slot).

A schedule's **slots** are the times it is due: the times its cron expression matches in its
time zone (``cronsim``, DST included), or the multiples of its interval since the Unix epoch
(so every worker computes the same slots, and each slot has the same job id everywhere).

When the scheduler finds slots due after the schedule's **baseline** (the last slot handled,
or its creation time), only the latest one is considered: it runs if it is at most
``misfire_grace`` old, else it is skipped; the earlier ones are skipped. Every skipped slot
counts as a misfire (``Stat.SCHEDULE_MISFIRES``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from cronsim import CronSim, CronSimError

from .errors import ConfigError
from .protocol import ScheduleSpec, ScheduleState, check_schedule_name

DEFAULT_MISFIRE_GRACE = 60.0
"""Seconds a missed slot may be late and still run."""
MAX_COUNTED = 1000
"""Missed cron slots counted at most per catch-up (interval slots are counted exactly)."""


@dataclass(frozen=True, kw_only=True)
class ScheduleInfo:
    """A schedule of a queue (``queue.schedules()``).

    ``cron`` (with its time zone ``tz``) or ``every`` says when it runs; ``next_run`` is its
    next slot, ``last_run`` the last slot whose job was enqueued (None before the first). Times
    are aware datetimes in ``tz``. ``from_code`` is True for a ``@queue.cron`` schedule,
    False for one added with ``queue.schedule()``.
    """

    name: str
    task: str
    cron: str | None
    every: timedelta | None
    tz: str
    next_run: datetime | None
    last_run: datetime | None
    misfire_grace: float
    skip_if_running: bool
    from_code: bool


def _seconds(value: float | timedelta, what: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not math.isfinite(seconds):
        raise ConfigError(f"{what} must be a finite number of seconds")
    return seconds


def make_spec(
    name: str,
    *,
    task: str,
    args: bytes,
    cron: str | None,
    every: float | timedelta | None,
    tz: str,
    misfire_grace: float | timedelta,
    skip_if_running: bool,
    from_code: bool,
    created_at: float,
) -> ScheduleSpec:
    """A checked schedule. Raises ``ConfigError`` for a bad name, both or neither of ``cron``
    and ``every``, an invalid expression, an unknown time zone, a non-positive interval or a
    negative grace."""
    check_schedule_name(name)
    if (cron is None) == (every is None):
        raise ConfigError(f"schedule {name!r}: give a cron expression or every=, exactly one")
    grace = _seconds(misfire_grace, f"schedule {name!r}: misfire_grace")
    if grace < 0:
        raise ConfigError(f"schedule {name!r}: misfire_grace must not be negative")
    interval = None
    if every is not None:
        interval = _seconds(every, f"schedule {name!r}: every")
        if round(interval * 1000) < 1:
            raise ConfigError(f"schedule {name!r}: every= must be positive (at least 1 ms), "
                              f"not {every!r}")
        interval = round(interval * 1000) / 1000
    spec = ScheduleSpec(
        name=name, task=task, args=args, created_at=created_at, cron=cron, every=interval, tz=tz,
        misfire_grace=grace, skip_if_running=skip_if_running, from_code=from_code,
    )
    Timetable(spec)  # checks the expression and the time zone
    return spec


class Timetable:
    """The slots of one schedule."""

    __slots__ = ("_cron", "_every_ms", "_tz")

    def __init__(self, spec: ScheduleSpec) -> None:
        where = f"schedule {spec.name!r}"
        try:
            self._tz = ZoneInfo(spec.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"{where}: unknown time zone {spec.tz!r}") from exc
        self._cron = spec.cron
        self._every_ms = round(spec.every * 1000) if spec.every is not None else 0
        if spec.cron is not None:
            if len(spec.cron.split()) != 5:
                raise ConfigError(f"{where}: {spec.cron!r} is not a 5-field cron expression "
                                  "(minute hour day-of-month month day-of-week)")
            try:
                CronSim(spec.cron, datetime.now(self._tz))
            except (CronSimError, ValueError, IndexError) as exc:
                raise ConfigError(f"{where}: invalid cron expression {spec.cron!r}: {exc}") from None
        elif self._every_ms < 1:
            raise ConfigError(f"{where}: every= must be positive")

    def _at(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self._tz)

    def latest(self, now: float) -> float | None:
        """The latest slot at or before ``now``."""
        if self._cron is None:
            return (math.floor(now * 1000) // self._every_ms) * self._every_ms / 1000
        # reverse iteration yields times strictly before a whole-second start
        start = self._at(math.floor(now) + 1)
        try:
            return next(CronSim(self._cron, start, reverse=True)).timestamp()
        except StopIteration:
            return None

    def next_after(self, t: float) -> float | None:
        """The first slot after ``t``."""
        if self._cron is None:
            return (math.floor(t * 1000) // self._every_ms + 1) * self._every_ms / 1000
        try:  # forward iteration yields times strictly after a whole second
            return next(CronSim(self._cron, self._at(math.floor(t)))).timestamp()
        except StopIteration:
            return None

    def count(self, after: float, upto: float) -> int:
        """How many slots are in ``(after, upto]`` (cron slots: at most ``MAX_COUNTED``)."""
        if upto <= after:
            return 0
        if self._cron is None:
            return int(math.floor(upto * 1000) // self._every_ms
                       - math.floor(after * 1000) // self._every_ms)
        n = 0
        for slot in CronSim(self._cron, self._at(math.floor(after))):
            if slot.timestamp() > upto or n == MAX_COUNTED:
                break
            if slot.timestamp() > after:
                n += 1
        return n


@dataclass(frozen=True, slots=True)
class Due:
    """What to do about a schedule now: its latest due ``slot`` runs when ``run`` (else it is
    skipped as a misfire); the ``missed`` earlier due slots are folded into it (skipped, and
    counted as misfires too)."""

    slot: float
    run: bool
    missed: int


def baseline(spec: ScheduleSpec, state: ScheduleState | None) -> float:
    """Slots at or before this are handled: the last slot handled, or, for a schedule created
    (or replaced) after it, the creation time."""
    return spec.created_at if state is None else max(state.slot, spec.created_at)


def decide(table: Timetable, after: float, now: float, grace: float) -> Due | None:
    """The due slot of a schedule whose slots up to ``after`` are handled, at ``now``; None
    when nothing is due."""
    latest = table.latest(now)
    if latest is None or latest <= after:
        return None
    earlier = max(table.count(after, latest) - 1, 0)
    return Due(latest, now - latest <= grace, earlier)


def describe(spec: ScheduleSpec, state: ScheduleState | None, now: float) -> ScheduleInfo:
    table = Timetable(spec)
    tz = ZoneInfo(spec.tz)
    next_run = table.next_after(max(now, baseline(spec, state)))
    last_run = state.run_slot if state is not None else None
    return ScheduleInfo(
        name=spec.name, task=spec.task, cron=spec.cron,
        every=timedelta(seconds=spec.every) if spec.every is not None else None, tz=spec.tz,
        next_run=datetime.fromtimestamp(next_run, tz) if next_run is not None else None,
        last_run=datetime.fromtimestamp(last_run, tz) if last_run is not None else None,
        misfire_grace=spec.misfire_grace, skip_if_running=spec.skip_if_running,
        from_code=spec.from_code,
    )


def same_schedule(a: ScheduleSpec, b: ScheduleSpec) -> bool:
    """Whether two specs describe the same schedule (the creation time aside)."""
    return a == msgspec.structs.replace(b, created_at=a.created_at)
