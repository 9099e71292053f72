"""The Lua scripts, loaded once per client and called by EVALSHA (reloaded after NOSCRIPT).

Each ``.lua`` file is one atomic step; its header says which keys it touches and why.
Each script is prefixed with the ``lib.lua`` helpers it calls.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, cast

import redis.asyncio as aredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from ..config import Settings
from ..keys import QueueKeys
from ..lane import Lane

_FOLDER = files(__package__)
_NAMES = (
    "enqueue", "fetch", "start", "finish", "dead", "requeue", "reap", "reconcile", "retry",
    "promote", "revive",
)


def _helpers() -> dict[str, str]:
    """``lib.lua``'s functions by name, each with its comment (blocks apart by blank lines)."""
    blocks = _FOLDER.joinpath("lib.lua").read_text().split("\n\n")
    return {m[1]: block for block in blocks if (m := re.search(r"^local function (\w+)", block, re.M))}


def _with_helpers(body: str, helpers: dict[str, str]) -> str:
    """A script with the helpers it calls, directly or through another, in ``lib.lua``'s order:
    Redis runs the whole source on every call, so a helper it does not need costs each call."""
    used: set[str] = set()
    pending = [body]
    while pending:
        text = pending.pop()
        for name, block in helpers.items():
            if name not in used and re.search(rf"\b{name}\(", text):
                used.add(name)
                pending.append(block)
    return "\n\n".join([*(b for n, b in helpers.items() if n in used), body])


_HELPERS = _helpers()
_SOURCES = {
    name: _with_helpers(_FOLDER.joinpath(f"{name}.lua").read_text(), _HELPERS) for name in _NAMES
}

Client = aredis.Redis | aredis.client.Pipeline

SUSPECT_STAGGER = 0.1
"""Seconds between jobs recovered more than once, so that each runs apart from the others."""


@dataclass(frozen=True, slots=True)
class Finished:
    """One job's outcome, for ``Scripts.finish``."""

    entry: bytes
    job_id: str
    state: str  # 'complete' or 'failed'
    outcome: bytes
    finished_at: float
    ttl: float
    token: str  # this execution's unique token
    notice: bytes  # published on the done channel (``codec.encode_notice``)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _arg(value: bytes | str | float) -> bytes:
    """A script argument as a lane sends it: as redis-py would encode it."""
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else repr(value)).encode()


class Scripts:
    """One typed method per script, for one queue on one client."""

    def __init__(self, client: aredis.Redis, keys: QueueKeys, settings: Settings) -> None:
        self._client = client
        self._keys = keys
        self._settings = settings
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(source) for name, source in _SOURCES.items()
        }
        # enqueue.lua for jobs to run now: all but the time and the envelopes fixed
        self._enqueue_lane = self._lane("enqueue", client, [keys.pending, keys.queued],
                                        keys.job_prefix, "")
        self._start_lanes: dict[str, Lane] = {}  # by processing list, on the fetch client

    def _lane(self, name: str, client: aredis.Redis, keys: list[str], *fixed: str) -> Lane:
        """A lane (see ``lane.py``) for a script whose keys and leading arguments never change."""
        sha = self._scripts[name].sha
        return Lane(client.connection_pool, "EVALSHA", sha, str(len(keys)), *keys, *fixed)

    async def aclose(self) -> None:
        for lane in [self._enqueue_lane, *self._start_lanes.values()]:
            await lane.aclose()

    async def _call(
        self, name: str, keys: list[str], args: list[Any], client: Client | None = None
    ) -> Any:
        script = self._scripts[name]
        target = client or self._client
        if isinstance(target, aredis.client.Pipeline):  # it loads its scripts before it runs
            return await script(keys=keys, args=args, client=target)
        try:  # EVALSHA straight away: the registered script's call adds a few µs a call
            return await target.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:  # after a restart or SCRIPT FLUSH: load it and run it again
            return await script(keys=keys, args=args, client=target)

    async def enqueue(
        self,
        payloads: Sequence[bytes],
        enqueued_at: float,
        due: float | None = None,
        client: Client | None = None,
    ) -> list[int]:
        """Enqueue encoded envelopes in one call (a job whose id is taken is left as it is).
        A flag a job: 1 when enqueued, 0 when its id was taken (in a pipeline: the pipeline)."""
        if client is None and due is None and not self._enqueue_lane.busy:
            try:
                return cast("list[int]", await self._enqueue_lane.call(_arg(enqueued_at), *payloads))
            except (RedisError, OSError):
                pass  # sent again below, with retries and a script reload (idempotent by id)
        k = self._keys
        keys = [k.pending if due is None else k.scheduled, k.queued]
        args = [k.job_prefix, "" if due is None else due, enqueued_at, *payloads]
        return cast("list[int]", await self._call("enqueue", keys, args, client))

    async def fetch(
        self, processing: str, n: int, now: float, client: Client | None = None
    ) -> list[tuple[bytes, int]]:
        keys = [self._keys.pending, processing, self._keys.queued]
        args = [n, self._keys.job_prefix, now, _ms(self._settings.job_ttl)]
        flat = await self._call("fetch", keys, args, client)
        return list(zip(flat[::2], flat[1::2], strict=True))

    async def start(self, processing: str, entry: bytes, now: float, client: aredis.Redis) -> int:
        """Mark the job a BLMOVE just took as running; returns its attempt. On the path from
        enqueue to a running job, so it goes on a lane of ``client``. Never re-sent after a
        connection error (a second run would count a second attempt): the worker reconciles."""
        keys = [processing, self._keys.queued]
        lane = self._start_lanes.get(processing)
        if lane is None:
            lane = self._start_lanes[processing] = self._lane("start", client, keys)
        args: list[bytes | str | float] = [entry, self._keys.job_prefix, now, _ms(self._settings.job_ttl)]
        try:
            return int(await lane.call(*map(_arg, args)))
        except NoScriptError:  # not run: load it and run it
            return int(await self._call("start", keys, args, client))

    async def finish(self, processing: str, jobs: Sequence[Finished]) -> list[bool]:
        """Record every job's outcome in one atomic call; a flag a job: stored, or not ours."""
        keys = [processing, self._keys.stats, *(self._keys.job(j.job_id) for j in jobs)]
        args: list[Any] = [self._keys.done]
        for j in jobs:
            args += [j.entry, j.state, j.outcome, j.finished_at, _ms(j.ttl), j.notice, j.token]
        return [bool(flag) for flag in await self._call("finish", keys, args)]

    async def retry(
        self, processing: str, entry: bytes, *, job_id: str, due: float, error: str, token: str
    ) -> bool:
        keys = [processing, self._keys.scheduled, self._keys.job(job_id), self._keys.stats]
        return bool(await self._call("retry", keys, [entry, due, error, token]))

    async def dead(
        self,
        processing: str,
        entry: bytes,
        *,
        record: bytes,
        job_id: str | None,
        outcome: bytes,
        finished_at: float,
    ) -> bool:
        keys = [processing, self._keys.dead, self._keys.stats]
        if job_id is not None:
            keys.append(self._keys.job(job_id))
        settings = self._settings
        args = [
            entry, record, settings.max_dead_letters, outcome, finished_at,
            _ms(settings.result_ttl), job_id or "", self._keys.done, _ms(settings.dead_letter_ttl),
        ]
        return bool(await self._call("dead", keys, args))

    async def requeue(self, processing: str) -> int:
        keys = [processing, self._keys.pending]
        return int(await self._call("requeue", keys, [self._keys.job_prefix]))

    async def reconcile(self, processing: str, running: list[bytes]) -> int:
        keys = [processing, self._keys.pending]
        args = [self._keys.job_prefix, time.time(), *running]  # jobs started since are kept
        return int(await self._call("reconcile", keys, args))

    async def reap(self, victim: str, *, reaper: str, now: float) -> tuple[int, int]:
        k = self._keys
        s = self._settings
        keys = [
            k.heartbeat(victim), k.processing(victim), k.pending, k.workers, k.dead, k.stats,
            k.scheduled,
        ]
        args = [
            victim, k.job_prefix, s.max_recoveries, now, k.name, reaper, s.max_dead_letters,
            _ms(s.result_ttl), k.done, _ms(s.dead_letter_ttl), SUSPECT_STAGGER,
        ]
        requeued, dead = await self._call("reap", keys, args)
        return int(requeued), int(dead)

    async def promote(self, now: float, limit: int = 1000) -> tuple[int, float | None]:
        keys = [self._keys.scheduled, self._keys.pending, self._keys.queued]
        moved, next_due = await self._call("promote", keys, [now, limit, self._keys.job_prefix])
        return int(moved), (float(next_due) if next_due else None)

    async def revive(self, record: bytes, payload: bytes, job_id: str | None) -> bool:
        keys = [self._keys.dead, self._keys.pending]
        if job_id is not None:
            keys.append(self._keys.job(job_id))
        args = [record, payload, _ms(self._settings.job_ttl)]
        return bool(await self._call("revive", keys, args))

