"""The Lua scripts, loaded once per client and called by EVALSHA (reloaded after NOSCRIPT).

Each ``<name>.lua`` file is one atomic step; its header says which keys it touches and why, and
its first lines bind its keys and arguments to names (see ``source.py``). ``bind`` checks a
call's keys and arguments, given by those names, against that signature. ``Scripts`` has one
typed method per script, for an event loop; ``SyncScripts`` runs the producer's scripts
(enqueue, cancel) from any thread, with no event loop. Both take the calls they share from
``ProducerCalls``, so the two never differ in what they send.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aredis

from ..coalesce import Coalescer
from ..config import Settings
from ..connection import Client, Connection, ScriptArg, SyncClient, SyncConnection, lane_arg
from ..errors import JobNotFound
from ..lane import BULK, Lane, Tail, pack
from ..protocol import (
    ENCODER,
    FAILED_KEPT,
    LOG_LINES_KEPT,
    MINUTE_TTL,
    NOW,
    ErrorInfo,
    ErrorKind,
    Key,
    Outcome,
    QueueKeys,
    Reply,
    When,
)
from .source import ScriptSource, load

_NAMES = (
    "enqueue", "fetch", "start", "finish", "dead", "requeue", "reap", "reconcile", "retry",
    "promote", "revive", "cancel", "fire", "unschedule", "rerun", "note", "wait_for",
)
SOURCES: dict[str, ScriptSource] = {name: load(name) for name in _NAMES}
SHARDED_SOURCES: dict[str, ScriptSource] = {name: load(name, sharded=True) for name in _NAMES}
"""The same scripts for a cluster: they publish with SPUBLISH (sharded pub/sub)."""

NO_DEPENDENCY = "asyncjobs: no job to wait for: "
"""How ``wait_for.lua``'s error reply names a dependency that does not exist."""


def refusal(exc: redis.exceptions.ResponseError) -> Exception:
    """What an enqueue whose script refused it raises: ``JobNotFound`` for a job that waits
    for one that does not exist (nothing was written for it), else the reply's error."""
    _, found, dep = str(exc).partition(NO_DEPENDENCY)
    if not found:
        return exc
    return JobNotFound(f"after= names job {dep!r}, which does not exist (never enqueued, or "
                       "its record expired): the job waiting for it was not enqueued")


SUSPECT_STAGGER = 0.1
"""Seconds between jobs recovered more than once, so that each runs apart from the others."""


@dataclass(frozen=True, slots=True)
class Finished:
    """One job's outcome, for ``Scripts.finish``."""

    entry: bytes
    job_id: str
    state: str  # JobState.COMPLETE, FAILED or CANCELLED
    outcome: bytes
    finished_at: float
    ttl: float
    token: str  # this execution's unique token
    notice: bytes  # published on the done channel (``protocol.encode_notice``)


def finished_args(j: Finished) -> list[ScriptArg]:
    """A job's arguments of finish.lua, in its order."""
    return [j.entry, j.state, j.outcome, j.finished_at, _ms(j.ttl), j.notice, j.token]


FINISHED_ARGS = 7
"""How many arguments of finish.lua each job has."""
_PACKED_FINISHED = BULK * FINISHED_ARGS


def pack_finished(j: Finished) -> bytes:
    """``finished_args(j)`` packed for a lane, in one step (a batch's largest share of packing)."""
    state, at, token = j.state.encode(), repr(j.finished_at).encode(), j.token.encode()
    ttl = b"%d" % _ms(j.ttl)
    return _PACKED_FINISHED % (len(j.entry), j.entry, len(state), state, len(j.outcome), j.outcome,
                               len(at), at, len(ttl), ttl, len(j.notice), j.notice, len(token), token)


_DONE = int(Reply.DONE)
CANCELLED_OUTCOME: bytes = ENCODER.encode(Outcome(error=ErrorInfo(
    ErrorKind.CANCELLED, "JobCancelled", "cancelled")))
"""The outcome ``cancel.lua`` stores for a cancelled job."""


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """One call of a script, checked against its signature: keys and arguments in order."""

    name: str
    source: str
    keys: list[str]
    args: list[ScriptArg]


def bind(
    name: str,
    keys: Mapping[str, str],
    args: Mapping[str, ScriptArg],
    more_keys: Sequence[str] = (),
    more_args: Sequence[ScriptArg] = (),
    *,
    sharded: bool = False,
) -> ScriptCall:
    """A call of script ``name`` with its keys and arguments given by the names its source binds
    them to (then the variable tails, if it has any); ``sharded``: its variant for a cluster.
    Raises ``TypeError`` when the names are not the script's, in its order."""
    source = (SHARDED_SOURCES if sharded else SOURCES)[name]
    if tuple(keys) != source.keys or tuple(args) != source.args:
        raise TypeError(f"{name}.lua takes keys {source.keys} and arguments {source.args}, "
                        f"not {tuple(keys)} and {tuple(args)}")
    return ScriptCall(name, source.text, [*keys.values(), *more_keys], [*args.values(), *more_args])


def events_args(keys: QueueKeys, settings: Settings) -> dict[str, ScriptArg]:
    """``events`` (the stream, or '' when events are off) and ``events_max``: the arguments of
    every script that writes events (``lib/event.lua``)."""
    return {"events": keys.events if settings.events else "",
            "events_max": settings.events_max_len}


class ProducerCalls:
    """The script calls a producer makes (enqueue, cancel), for one queue: built once here for
    the asyncio and the blocking paths alike."""

    def __init__(self, keys: QueueKeys, settings: Settings, *, sharded: bool) -> None:
        self._keys = keys
        self._settings = settings
        self.events: dict[str, ScriptArg] = events_args(keys, settings)
        """The arguments of the scripts that write events."""
        self._sharded = sharded

    def enqueue_keys(self) -> list[str]:
        k = self._keys
        return [k.pending, k.prioritized, k.seq, k.scheduled, k.queued, k.debounced]

    def enqueue(self, payloads: Sequence[bytes], enqueued_at: float, when: When) -> ScriptCall:
        """Enqueue encoded envelopes; the reply has one reply per job (``enqueued``). A job
        that waits for others (``when.after``) is enqueued alone (``wait_for.lua``)."""
        if when.after:
            [payload] = payloads
            return self._wait_for(payload, enqueued_at, when)
        keys = dict(zip(SOURCES["enqueue"].keys, self.enqueue_keys(), strict=True))
        return bind(
            "enqueue", keys,
            {"job_prefix": self._keys.job_prefix, "unique_prefix": self._keys.unique_prefix,
             "due": "" if when.due is None else when.due, "priority": when.priority,
             "expires_at": "" if when.expires_at is None else when.expires_at,
             "unique": when.unique or "", "debounce": "1" if when.debounce else "",
             "limits": when.limits or "", **self.events, "enqueued_at": enqueued_at},
            more_args=payloads, sharded=self._sharded,
        )

    def _wait_for(self, payload: bytes, enqueued_at: float, when: When) -> ScriptCall:
        k = self._keys
        s = self._settings
        dependency_keys: list[str] = []
        dependency_ids: list[str] = []
        for dependency in when.after:
            key_base, _, dep = dependency.partition(" ")
            dependency_keys += [f"{key_base}{Key.JOB}{dep}", f"{key_base}{Key.QUEUED}",
                                f"{key_base}{Key.DEPENDENTS}{dep}"]
            dependency_ids.append(dep)
        return bind(
            "wait_for",
            {"queued": k.queued, "waiting": k.waiting, "after": k.after, "pending": k.pending,
             "prioritized": k.prioritized, "seq": k.seq, "stats": k.stats},
            {"job_prefix": k.job_prefix, "key_base": k.key_base, "priority": when.priority,
             "expires_at": "" if when.expires_at is None else when.expires_at,
             "limits": when.limits or "", "policy": when.on_dependency_failure.value,
             "piped": when.piped.value, "enqueued_at": enqueued_at,
             "result_ttl": _ms(s.result_ttl), "wait_ttl": _ms(s.job_ttl), **self.events,
             "done": k.done, "entry": payload},
            more_keys=dependency_keys, more_args=dependency_ids, sharded=self._sharded,
        )

    def cancel(self, job_id: str, outcome: bytes = CANCELLED_OUTCOME) -> ScriptCall:
        """Cancel a job that has not finished; the reply is ``Reply.DONE`` when it is cancelled."""
        k = self._keys
        return bind(
            "cancel",
            {"queued": k.queued, "record": k.job(job_id), "stats": k.stats,
             "debounced": k.debounced},
            {"id": job_id, "outcome": outcome, "now": time.time(),
             "result_ttl": _ms(self._settings.result_ttl), "done": k.done, "control": k.control,
             "unique_prefix": k.unique_prefix, **self.events},
            sharded=self._sharded,
        )


def enqueued(replies: list[Any]) -> list[bool | str]:
    """Per job of an enqueue call's replies: True when enqueued, False when its id was taken,
    or the id of the job that holds its unique key."""
    return [reply.decode() if isinstance(reply, bytes) else reply == _DONE for reply in replies]


def _done(replies: list[int]) -> list[bool]:
    """Per job of a call: whether the script did its step (``Reply.DONE``)."""
    return [reply == _DONE for reply in replies]


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class Scripts:
    """One typed method per script, for one queue on one connection."""

    def __init__(self, conn: Connection, keys: QueueKeys, settings: Settings) -> None:
        self._conn = conn
        self._keys = keys
        self._settings = settings
        self._calls = ProducerCalls(keys, settings, sharded=conn.cluster)
        # enqueue.lua for jobs to run now at priority 0 with no expiry: all but the time and the
        # envelopes fixed
        self._events = self._calls.events
        self._enqueue_lane = self._lane(
            "enqueue", conn.redis, self._calls.enqueue_keys(), keys.job_prefix,
            keys.unique_prefix, "", "0", "", "", "", "", *map(str, self._events.values()))
        self._start_lanes: dict[str, Lane | None] = {}  # by processing list, on the fetch client
        # finish.lua, whose keys vary with its batch: sent with no pack_command per argument
        self._finish_lane = self._lane("finish", conn.redis, None)
        self._shared: Coalescer[bool | str] = Coalescer(self._enqueue_now)
        self.on_reserved: Callable[[float], None] | None = None
        """Called with the due time of a job that ``fetch``/``start`` scheduled for later, over
        its task's rate (the worker wakes its promoter then)."""

    def _lane(self, name: str, client: aredis.Redis, keys: list[str] | None, *fixed: str
              ) -> Lane | None:
        return self._conn.lane(name, SOURCES[name].text, client, keys, *fixed)

    async def _run(
        self,
        name: str,
        keys: Mapping[str, str],
        args: Mapping[str, ScriptArg],
        more_keys: Sequence[str] = (),
        more_args: Sequence[ScriptArg] = (),
        client: Client | None = None,
    ) -> Any:
        """Run a script with its keys and arguments given by the names its source binds them
        to (then the variable tails, if it has any)."""
        call = bind(name, keys, args, more_keys, more_args, sharded=self._conn.cluster)
        return await self._call(call, client)

    async def _call(self, call: ScriptCall, client: Client | None = None) -> Any:
        return await self._conn.run_script(call.name, call.source, call.keys, call.args, client)

    async def enqueue(
        self, payloads: Sequence[bytes], enqueued_at: float, when: When = NOW
    ) -> list[bool | str]:
        """Enqueue encoded envelopes in one call (a job whose id is taken is left as it is).
        Per job: True when enqueued, False when its id was taken, or the id of the job that
        holds its unique key."""

        if when is not NOW:
            return enqueued(await self._enqueue(payloads, enqueued_at, when, None))
        lane = self._enqueue_lane
        if lane is not None and lane.busy:  # concurrent callers: one call for all of them
            return await self._shared.call(payloads, enqueued_at)
        return await self._enqueue_now(payloads, enqueued_at)

    async def _enqueue_now(self, payloads: Sequence[bytes], enqueued_at: float) -> list[bool | str]:
        def run() -> Any:
            return self._enqueue(payloads, enqueued_at, NOW, None)

        # enqueue is idempotent by id: safe to send again
        return enqueued(await self._conn.run_on_lane(
            self._enqueue_lane, lambda: pack(lane_arg(enqueued_at), *payloads), run,
            idempotent=True))

    async def enqueue_in(
        self,
        pipe: aredis.client.Pipeline,
        payloads: Sequence[bytes],
        enqueued_at: float,
        when: When = NOW,
    ) -> None:
        """Queue the same call on ``pipe``; its replies come with the pipeline's."""
        await self._enqueue(payloads, enqueued_at, when, pipe)

    def _enqueue(
        self, payloads: Sequence[bytes], enqueued_at: float, when: When, client: Client | None
    ) -> Any:
        return self._call(self._calls.enqueue(payloads, enqueued_at, when), client)

    def _started(self) -> dict[str, ScriptArg]:
        """The arguments of the scripts that start jobs (``lib/mark_started.lua``), after the
        first."""
        return {"job_prefix": self._keys.job_prefix, "now": time.time(),
                "record_ttl": _ms(self._settings.job_ttl),
                "result_ttl": _ms(self._settings.result_ttl), "done": self._keys.done,
                "unique_prefix": self._keys.unique_prefix, "conc_prefix": self._keys.conc_prefix,
                **self._events}

    async def fetch(
        self, processing: str, n: int, client: Client | None = None
    ) -> list[tuple[bytes, int]] | None:
        """Take up to ``n`` jobs: (entry, attempt) pairs; None while the queue is paused."""
        k = self._keys
        flat = await self._run(
            "fetch",
            {"pending": k.pending, "prioritized": k.prioritized, "processing": processing,
             "queued": k.queued, "paused": k.paused, "stats": k.stats, "debounced": k.debounced,
             "scheduled": k.scheduled},
            {"n": n, **self._started()},
            client=client,
        )
        if flat == Reply.PAUSED:
            return None
        if len(flat) % 2:
            self._reserved(float(flat.pop()))
        return list(zip(flat[::2], flat[1::2], strict=True))

    def _reserved(self, due: float) -> None:
        if self.on_reserved is not None:
            self.on_reserved(due)

    async def start(
        self, processing: str, entry: bytes, client: aredis.Redis
    ) -> tuple[bytes, int] | None:
        """Mark the job a BLMOVE just took as running: the entry to run (the one taken, or a
        prioritized job in place of the WAKE marker) and its attempt, attempt 0 when there is
        nothing to run; None while the queue is paused (the entry went back). On the path
        from enqueue to a running job, so it goes on a lane of ``client``. Never re-sent after
        a connection error (a second run would count a second attempt): the worker
        reconciles."""
        k = self._keys
        keys = {"processing": processing, "prioritized": k.prioritized, "pending": k.pending,
                "queued": k.queued, "paused": k.paused, "stats": k.stats, "debounced": k.debounced,
                "scheduled": k.scheduled}
        args: dict[str, ScriptArg] = {"entry": entry, **self._started()}
        if processing in self._start_lanes:
            lane = self._start_lanes[processing]
        else:
            lane = self._start_lanes[processing] = self._lane("start", client, list(keys.values()))
        reply = await self._conn.run_on_lane(
            lane, lambda: pack(*[lane_arg(arg) for arg in args.values()]),
            lambda: self._run("start", keys, args, client=client),
            idempotent=False,
        )
        if isinstance(reply, list):
            if len(reply) == 1:  # [Reply.PAUSED]
                return None
            if len(reply) == 3:  # over its rate: scheduled
                self._reserved(float(reply[2]))
            return reply[1], int(reply[0])
        return entry, int(reply)

    async def finish(self, processing: str, jobs: Sequence[Finished]) -> list[bool]:
        """Record every job's outcome in one atomic call; per job: stored, or not ours."""
        k = self._keys
        keys = {"processing": processing, "stats": k.stats,
                "minute": k.minute(int(time.time()) // 60), "pending": k.pending, "failed": k.failed}
        args = {"done": k.done, "minute_ttl": MINUTE_TTL, "unique_prefix": k.unique_prefix,
                "conc_prefix": k.conc_prefix, "failed_kept": FAILED_KEPT, "job_prefix": k.job_prefix,
                "logs_prefix": k.logs_prefix, **self._events}
        records = [k.job(j.job_id) for j in jobs]

        def on_lane() -> Tail:  # the call below, packed a job at a time
            fixed = bind("finish", keys, args)
            count, head = pack(str(len(fixed.keys) + len(jobs)).encode(),
                               *[key.encode() for key in fixed.keys + records],
                               *[lane_arg(arg) for arg in fixed.args])
            return (count + len(jobs) * FINISHED_ARGS,
                    head + b"".join([pack_finished(j) for j in jobs]))

        def call() -> Awaitable[Any]:
            per_job = [arg for j in jobs for arg in finished_args(j)]
            return self._call(bind("finish", keys, args, records, per_job,
                                   sharded=self._conn.cluster))

        # a lost reply is not sent again here: the caller retries (finish is fenced)
        replies = await self._conn.run_on_lane(self._finish_lane, on_lane, call, idempotent=False)
        return _done(replies)

    async def note(
        self, job_id: str, progress: float | None, message: str, lines: Sequence[str]
    ) -> bool:
        """Write a running job's new progress and log lines; False when it no longer runs."""
        k = self._keys
        reply = await self._run(
            "note", {"record": k.job(job_id), "logs": k.logs(job_id)},
            {"progress": "" if progress is None else progress, "message": message,
             "log_kept": LOG_LINES_KEPT, **self._events, "id": job_id},
            more_args=lines,
        )
        return bool(reply == Reply.DONE)

    async def retry(
        self, processing: str, entry: bytes, *, job_id: str, due: float, error: str, token: str
    ) -> bool:
        k = self._keys
        reply = await self._run(
            "retry",
            {"processing": processing, "schedule": k.scheduled, "record": k.job(job_id),
             "stats": k.stats, "pending": k.pending},
            {"entry": entry, "due": due, "last_error": error, "token": token, "id": job_id,
             "conc_prefix": k.conc_prefix, **self._events},
        )
        return bool(reply == Reply.DONE)

    async def dead(
        self,
        processing: str,
        entry: bytes,
        *,
        record: bytes,
        job_id: str | None,
        outcome: bytes,
        finished_at: float,
        reason: str,
    ) -> bool:
        k = self._keys
        s = self._settings
        reply = await self._run(
            "dead",
            {"processing": processing, "dead": k.dead, "stats": k.stats, "pending": k.pending,
             "minute": k.minute(int(finished_at) // 60)},
            {"entry": entry, "letter": record, "cap": s.max_dead_letters, "outcome": outcome,
             "finished_at": finished_at, "record_ttl": _ms(s.result_ttl), "id": job_id or "",
             "done": k.done, "dead_ttl": _ms(s.dead_letter_ttl), "unique_prefix": k.unique_prefix,
             "conc_prefix": k.conc_prefix, "minute_ttl": MINUTE_TTL, "reason": reason,
             **self._events},
            more_keys=[k.job(job_id)] if job_id is not None else [],
        )
        return bool(reply == Reply.DONE)

    async def requeue(self, processing: str) -> int:
        return int(await self._run(
            "requeue", {"processing": processing, "pending": self._keys.pending},
            {"job_prefix": self._keys.job_prefix, "conc_prefix": self._keys.conc_prefix},
        ))

    async def reconcile(self, processing: str, running: list[bytes]) -> int:
        return int(await self._run(
            "reconcile", {"processing": processing, "pending": self._keys.pending},
            {"job_prefix": self._keys.job_prefix, "conc_prefix": self._keys.conc_prefix,
             "since": time.time()},  # jobs started since are kept
            more_args=running,
        ))

    async def reap(self, victim: str, *, reaper: str, now: float) -> tuple[int, int] | None:
        """Recover a dead worker's jobs: (requeued, dead-lettered), or None while it lives."""
        k = self._keys
        s = self._settings
        reply, requeued, dead = await self._run(
            "reap",
            {"heartbeat": k.heartbeat(victim), "processing": k.processing(victim),
             "pending": k.pending, "workers": k.workers, "dead": k.dead, "stats": k.stats,
             "schedule": k.scheduled, "minute": k.minute(int(now) // 60)},
            {"victim": victim, "job_prefix": k.job_prefix, "max_recoveries": s.max_recoveries,
             "now": now, "queue": k.name, "reaper": reaper, "cap": s.max_dead_letters,
             "record_ttl": _ms(s.result_ttl), "done": k.done, "dead_ttl": _ms(s.dead_letter_ttl),
             "stagger": SUSPECT_STAGGER, "unique_prefix": k.unique_prefix,
             "conc_prefix": k.conc_prefix, "minute_ttl": MINUTE_TTL, **self._events},
        )
        if reply == Reply.ALIVE:
            return None
        return int(requeued), int(dead)

    async def promote(self, now: float, limit: int = 1000) -> tuple[int, float | None]:
        k = self._keys
        moved, next_due = await self._run(
            "promote",
            {"schedule": k.scheduled, "pending": k.pending, "prioritized": k.prioritized,
             "seq": k.seq, "queued": k.queued},
            {"now": now, "limit": limit, "job_prefix": k.job_prefix},
        )
        return int(moved), (float(next_due) if next_due else None)

    async def cancel(self, job_id: str, outcome: bytes = CANCELLED_OUTCOME) -> bool:
        """Cancel a job that has not finished; False when it had (or is unknown)."""
        return bool(await self._call(self._calls.cancel(job_id, outcome)) == Reply.DONE)

    async def revive(self, record: bytes, payload: bytes, job_id: str | None) -> bool:
        k = self._keys
        reply = await self._run(
            "revive", {"dead": k.dead, "pending": k.pending},
            {"letter": record, "payload": payload, "record_ttl": _ms(self._settings.job_ttl),
             **self._events},
            more_keys=[k.job(job_id)] if job_id is not None else [],
        )
        return bool(reply == Reply.DONE)

    async def rerun(self, job_id: str) -> bool:
        """Enqueue a failed job again with its kept payload; False when it is not failed (or
        its record, with the payload, is gone)."""
        k = self._keys
        reply = await self._run(
            "rerun",
            {"record": k.job(job_id), "pending": k.pending, "prioritized": k.prioritized,
             "seq": k.seq, "failed": k.failed},
            {"record_ttl": _ms(self._settings.job_ttl), "id": job_id, **self._events},
        )
        return bool(reply == Reply.DONE)

    async def fire(
        self, name: str, spec: bytes, slot: str, *, run: bool, missed: int, skip_if_running: bool,
        enqueued_at: float, entry: bytes, priority: int = 0,
    ) -> Reply:
        """Handle one due slot of a schedule (see ``fire.lua``); its job gets ``priority``."""
        k = self._keys
        reply = await self._run(
            "fire",
            {"schedules": k.schedules, "state": k.schedule_state, "pending": k.pending,
             "prioritized": k.prioritized, "seq": k.seq, "queued": k.queued, "stats": k.stats},
            {"name": name, "spec": spec, "slot": slot, "run": "1" if run else "0",
             "missed": missed, "skip_if_running": "1" if skip_if_running else "0",
             "job_prefix": k.job_prefix, "enqueued_at": enqueued_at, "entry": entry,
             "priority": priority, **self._events},
        )
        return Reply(int(reply))

    async def unschedule(self, name: str) -> bool:
        k = self._keys
        removed = await self._run(
            "unschedule", {"schedules": k.schedules, "state": k.schedule_state}, {"name": name}
        )
        return bool(removed)


class SyncScripts:
    """The producer's scripts (``ProducerCalls``) on a blocking client, from any thread."""

    def __init__(self, conn: SyncConnection, keys: QueueKeys, settings: Settings) -> None:
        self._conn = conn
        self._calls = ProducerCalls(keys, settings, sharded=conn.cluster)

    def _call(self, call: ScriptCall, client: SyncClient | None) -> Any:
        return self._conn.run_script(call.name, call.source, call.keys, call.args, client)

    def enqueue(
        self, payloads: Sequence[bytes], enqueued_at: float, when: When = NOW
    ) -> list[bool | str]:
        """As ``Scripts.enqueue``: per job, True when enqueued, False when its id was taken, or
        the id of the job that holds its unique key."""
        return enqueued(self._call(self._calls.enqueue(payloads, enqueued_at, when), None))

    def enqueue_in(
        self, pipe: redis.client.Pipeline, payloads: Sequence[bytes], enqueued_at: float,
        when: When = NOW,
    ) -> None:
        """Queue the same call on ``pipe``; its replies come with the pipeline's."""
        self._call(self._calls.enqueue(payloads, enqueued_at, when), pipe)

    def cancel(self, job_id: str) -> bool:
        return bool(self._call(self._calls.cancel(job_id), None) == Reply.DONE)
