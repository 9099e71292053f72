"""Enqueues the due slots of the queue's schedules; every worker runs one.

Each pass reads every schedule and its state (one round trip), decides for each schedule
whether a slot is due (``schedule.decide``), and hands each due slot to ``fire.lua``, which
runs or skips it and records it as handled in one atomic step: the first worker to call it for
a slot handles it, the others find it handled. Then it sleeps until the next slot of any
schedule, at most ``MAX_WAIT`` seconds, so added and removed schedules are seen soon.

Which schedules a worker runs: every one stored with ``queue.schedule()``, and the
``@queue.cron`` ones its own code declares. It writes those to the schedules hash at start-up
(kept as they are when unchanged, so their creation time survives restarts), and again when
they are missing; a ``@queue.cron`` schedule left in the hash by code no worker runs any more
is shown by ``queue.schedules()`` but not run, until ``queue.unschedule()`` removes it.
"""

from __future__ import annotations

import logging
import time
from typing import cast

import anyio
import msgspec
import redis.asyncio as aredis

from ..codec import encode_envelope
from ..connection import UNREACHABLE, Backoff
from ..protocol import (
    ENCODER,
    SCHEDULE_DECODER,
    Envelope,
    QueueKeys,
    Reply,
    ScheduleSpec,
    decode_schedule_state,
    format_slot,
    schedule_job_id,
)
from ..queue import Queue
from ..schedule import Timetable, baseline, decide, same_schedule
from ..scripts import Scripts

log: logging.Logger = logging.getLogger(__name__)

MAX_WAIT = 1.0
"""Seconds between passes at most."""
LATE = 0.002
"""Seconds slept past a slot, so that the pass after it finds it due."""


class Scheduler:
    def __init__(self, queue: Queue, scripts: Scripts, client: aredis.Redis) -> None:
        self._queue = queue
        self._keys: QueueKeys = queue.keys
        self._scripts = scripts
        self._redis = client
        self._code = dict(queue.cron_schedules)
        self._tables: dict[bytes, tuple[ScheduleSpec, Timetable] | None] = {}

    async def run(self) -> None:
        backoff = Backoff(cap=MAX_WAIT)  # back within a second of Redis, to be on time for slots
        registered = not self._code
        while True:
            try:
                if not registered:
                    await self._register()
                    registered = True
                wake = await self._pass(time.time())
            except UNREACHABLE as exc:
                log.debug("scheduler: %s", exc)
                await backoff.wait()
                continue
            except Exception:  # a bug or a server refusal: keep the worker, try again later
                log.exception("scheduler: pass failed")
                await backoff.wait()
                continue
            backoff.reset()
            await anyio.sleep(max(min(wake, time.time() + MAX_WAIT) - time.time(), 0.0) + LATE)

    async def _register(self) -> None:
        """Write this worker's ``@queue.cron`` schedules, keeping each stored one unchanged."""
        names = list(self._code)
        stored = cast("list[bytes | None]", await self._redis.hmget(self._keys.schedules, names))
        for name, raw in zip(names, stored, strict=True):
            spec = self._code[name]
            if raw is not None:
                try:
                    current = SCHEDULE_DECODER.decode(raw)
                except msgspec.DecodeError:
                    current = None
                if current is not None and same_schedule(current, spec):
                    continue
            await self._redis.hset(self._keys.schedules, name, ENCODER.encode(spec))

    def _table(self, raw: bytes) -> tuple[ScheduleSpec, Timetable] | None:
        if raw not in self._tables:
            try:
                spec = SCHEDULE_DECODER.decode(raw)
                self._tables[raw] = (spec, Timetable(spec))
            except Exception as exc:  # written by hand, or a time zone this machine lacks
                log.warning("scheduler: ignoring a schedule that cannot be read: %s", exc)
                self._tables[raw] = None
        return self._tables[raw]

    async def _pass(self, now: float) -> float:
        """Fire every due slot; returns when the next slot of any schedule is due."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._keys.schedules)
            pipe.hgetall(self._keys.schedule_state)
            stored, states = cast("tuple[dict[bytes, bytes], dict[bytes, bytes]]",
                                  await pipe.execute())
        wake = now + MAX_WAIT
        seen = set()
        for key, raw in stored.items():
            loaded = self._table(raw)
            name = key.decode()
            seen.add(name)
            if loaded is None:
                continue
            spec, table = loaded
            if spec.from_code and name not in self._code:
                continue  # declared by code this worker does not run
            after = baseline(spec, decode_schedule_state(states.get(key)))
            due = decide(table, after, now, spec.misfire_grace)
            if due is not None:
                await self._fire(spec, raw, due.slot, due.run, due.missed, now)
            next_slot = table.next_after(max(now, after))
            if next_slot is not None:
                wake = min(wake, next_slot)
        if any(name not in seen for name in self._code):  # lost (a server without persistence)
            await self._register()
            return now
        return wake

    async def _fire(
        self, spec: ScheduleSpec, raw: bytes, slot: float, run: bool, missed: int, now: float
    ) -> None:
        job_id = schedule_job_id(spec.name, slot)
        entry = encode_envelope(Envelope(job_id, spec.task, msgspec.Raw(spec.args), now),
                                task=spec.task, limit=self._queue.max_payload_bytes)
        reply = await self._scripts.fire(
            spec.name, raw, format_slot(slot), run=run, missed=missed,
            skip_if_running=spec.skip_if_running, enqueued_at=now, entry=entry,
            priority=spec.priority,
        )
        if reply is Reply.DONE:
            log.debug("scheduler: enqueued %s", job_id)
        elif reply is Reply.SKIPPED:
            log.info("scheduler: skipped %s: the previous run of %r is still queued or running",
                     job_id, spec.name)
        elif reply is Reply.MISSED:
            log.warning("scheduler: skipped %s: %.0f s late, past its misfire grace (%.0f s)",
                        job_id, now - slot, spec.misfire_grace)
        if missed and reply in (Reply.DONE, Reply.SKIPPED, Reply.MISSED):
            log.warning("scheduler: schedule %r missed %d earlier slot(s)", spec.name, missed)
