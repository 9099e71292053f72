"""The Lua scripts, loaded once per client and called by EVALSHA (reloaded after NOSCRIPT).

Each ``.lua`` file is one atomic step; its header says which keys it touches and why.
``lib.lua`` is prepended to every script.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from ..keys import QueueKeys

_FOLDER = files(__package__)
_LIB = _FOLDER.joinpath("lib.lua").read_text()

Client = aredis.Redis | aredis.client.Pipeline


def _source(name: str) -> str:
    return _LIB + "\n" + _FOLDER.joinpath(f"{name}.lua").read_text()


_SOURCES = {
    name: _source(name) for name in ("enqueue", "fetch", "start", "finish", "dead", "requeue")
}


class Scripts:
    """One typed method per script, for one queue on one client."""

    def __init__(self, client: aredis.Redis, keys: QueueKeys) -> None:
        self._client = client
        self._keys = keys
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(source) for name, source in _SOURCES.items()
        }

    async def _call(self, name: str, keys: list[str], args: list[Any], client: Client | None) -> Any:
        return await self._scripts[name](keys=keys, args=args, client=client or self._client)

    async def enqueue(
        self,
        job_id: str,
        payload: bytes,
        task: str,
        enqueued_at: float,
        ttl_ms: int,
        client: Client | None = None,
    ) -> Any:
        keys = [self._keys.pending, self._keys.job(job_id)]
        return await self._call("enqueue", keys, [payload, task, enqueued_at, ttl_ms], client)

    async def fetch(self, processing: str, n: int, now: float) -> list[tuple[bytes, int]]:
        keys = [self._keys.pending, processing]
        flat = await self._call("fetch", keys, [n, self._keys.job_prefix, now], None)
        return list(zip(flat[::2], flat[1::2], strict=True))

    async def start(self, processing: str, entry: bytes, now: float) -> int:
        args = [entry, self._keys.job_prefix, now]
        return int(await self._call("start", [processing], args, None))

    async def finish(
        self,
        processing: str,
        entry: bytes,
        *,
        job_id: str,
        state: str,
        outcome: bytes,
        finished_at: float,
        ttl_ms: int,
    ) -> bool:
        keys = [processing, self._keys.job(job_id), self._keys.stats]
        args = [entry, state, outcome, finished_at, ttl_ms, job_id, self._keys.done]
        return bool(await self._call("finish", keys, args, None))

    async def dead(
        self,
        processing: str,
        entry: bytes,
        *,
        record: bytes,
        cap: int,
        job_id: str | None,
        outcome: bytes,
        finished_at: float,
        ttl_ms: int,
    ) -> bool:
        keys = [processing, self._keys.dead, self._keys.stats]
        if job_id is not None:
            keys.append(self._keys.job(job_id))
        args = [entry, record, cap, outcome, finished_at, ttl_ms, job_id or "", self._keys.done]
        return bool(await self._call("dead", keys, args, None))

    async def requeue(self, processing: str) -> int:
        keys = [processing, self._keys.pending]
        return int(await self._call("requeue", keys, [self._keys.job_prefix], None))
