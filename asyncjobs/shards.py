"""Sharded queues (``Queue(name, shards=N)``): which shard a job goes to, how a batch of calls
is sent to its shards, and the check that the shards of a queue match the layout its jobs are
in.

A job is in shard ``job_shard(job_id, N)`` (a schedule's job, ``cron:...``, in the first,
where schedules fire; any other by the CRC32 of its id): its id names its shard, so a result,
a record or a cancel by id goes straight to it. A new id is drawn at random, which spreads jobs evenly; a
call with a unique key or a concurrency key gets an id drawn until it falls in that key's
shard (``shard_index(key, N)``), so the key's jobs stay together and the key holds across the
queue. The shards' keys are under tags spread over the hash slots (``protocol.shard_tag``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .config import Settings
from .errors import ConfigError
from .protocol import (
    MAX_SHARDS,
    REGISTRY,
    QueueKeys,
    When,
    decode_unique_key,
    job_shard,
    shard_index,
)

if TYPE_CHECKING:
    import redis
    import redis.asyncio as aredis

    from .inspector import QueueCounts
    from .job import Job, SyncJob
    from .queue import Queue
    from .task import Call

R = TypeVar("R")

Wave = list[tuple["Queue", list[int]]]
"""Calls (by index) sent at once, each group to its shard."""


def check_shards(name: str, shards: int, settings: Settings) -> int:
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise ConfigError(f"queue {name!r}: shards must be an int from 1 to {MAX_SHARDS}, "
                          f"got {shards!r}")
    if shards > 1 and settings.rate_limit is not None:
        raise ConfigError(f"queue {name!r}: a rate limit holds within one shard: a sharded queue "
                          "takes no Settings(rate_limit=...)")
    return shards


def check_task_limits(queue: Queue, task: str, max_concurrency: int | None,
                      rate_limit: object) -> None:
    """Refuse the task-wide limits a sharded queue cannot hold (they would hold per shard)."""
    if queue.shards == 1:
        return
    for option, value in (("max_concurrency", max_concurrency), ("rate_limit", rate_limit)):
        if value is not None:
            raise ConfigError(
                f"task {task}: {option} holds within one shard, and queue {queue.name!r} has "
                f"{queue.shards}: use key_concurrency with a concurrency_key (a key's jobs stay "
                "in one shard), or a queue of one shard")


def _key_shards(queue: Queue, when: When) -> set[int]:
    """The shards that ``when``'s unique key and concurrency key are in."""
    keys = []
    if when.unique is not None:
        keys.append(decode_unique_key(when.unique))
    if when.limits is not None:
        key = when.limits.split(",", 3)[3]
        if key:
            keys.append(key)
    return {shard_index(key, queue.shards) for key in keys}


def _dependency_shards(queue: Queue, when: When) -> list[int]:
    """The shards of ``queue`` that ``when``'s dependencies are in, in order."""
    bases = {shard.keys.key_base: index for index, shard in enumerate(queue.shard_queues)}
    return [bases[base] for base, _, _ in (d.partition(" ") for d in when.after) if base in bases]


def home_shard(queue: Queue, when: When) -> tuple[int | None, bool]:
    """The shard a job enqueued with ``when`` goes to (None: any), and whether it must (its
    keys, and on a cluster its dependencies, are there: a script reaches one slot); on one
    server a job waiting for others goes to its first dependency's shard, but need not.
    ``ConfigError`` when what it must be beside is in different shards."""
    needed = _key_shards(queue, when)
    depends = _dependency_shards(queue, when) if when.after else []
    if depends and queue.settings.on_cluster:
        needed.update(depends)
    if len(needed) > 1:
        raise ConfigError(
            f"queue {queue.name!r} has {queue.shards} shards, and this call's unique key, "
            "concurrency key" + (" and dependencies" if depends else "") + " are in different "
            "ones: give keys of one shard" + (", and wait for jobs of that shard" if depends
                                               else ""))
    if needed:
        return needed.pop(), True
    return (depends[0] if depends else None), False


def shard_for(queue: Queue, call: Call[Any]) -> Queue:
    """The shard of ``queue`` that ``call``'s job goes to: its id's; ``ConfigError`` when the
    caller's own id is not in the shard its keys need."""
    index = job_shard(call.job_id, queue.shards)
    needed, required = home_shard(queue, call.when)
    if required and needed != index:
        raise ConfigError(
            f"job id {call.job_id!r} is in shard {index} of queue {queue.name!r}, but its unique "
            f"or concurrency key (or dependency) is in shard {needed}: leave the id to the queue, "
            "or give one of that shard (Queue.shard_of)")
    return queue.shard_queues[index]


def shard_waves(queue: Queue, calls: Sequence[Call[Any]]) -> list[Wave]:
    """``calls`` split into the groups sent to each shard, in waves sent one after the other:
    first every call that waits for no job, by shard (one wave: a job they wait for may be
    among them), then the calls that wait for others, in order, a wave per run of one shard."""
    free: dict[Queue, list[int]] = {}
    waves: list[Wave] = []
    for i, call in enumerate(calls):
        shard = shard_for(queue, call)
        if not call.when.after:
            free.setdefault(shard, []).append(i)
        elif waves and waves[-1][0][0] is shard:
            waves[-1][0][1].append(i)
        else:
            waves.append([(shard, [i])])
    return ([list(free.items())] if free else []) + waves


async def enqueue_sharded(queue: Queue, calls: Sequence[Call[R]]) -> list[Job[R]]:
    """``Queue.enqueue_many`` of a sharded queue: each shard's calls in one round trip, the
    shards of a wave at once."""
    jobs: list[Job[R] | None] = [None] * len(calls)
    for wave in shard_waves(queue, calls):
        done = await asyncio.gather(*(shard.enqueue_many([calls[i] for i in indices])
                                      for shard, indices in wave))
        for (_, indices), handles in zip(wave, done, strict=True):
            for i, handle in zip(indices, handles, strict=True):
                jobs[i] = handle
    return [job for job in jobs if job is not None]


def enqueue_sharded_sync(queue: Queue, calls: Sequence[Call[R]]) -> list[SyncJob[R]]:
    """``Queue.enqueue_many_sync`` of a sharded queue: a round trip per shard of each wave."""
    jobs: list[SyncJob[R] | None] = [None] * len(calls)
    for wave in shard_waves(queue, calls):
        for shard, indices in wave:
            handles = shard.enqueue_many_sync([calls[i] for i in indices])
            for i, handle in zip(indices, handles, strict=True):
                jobs[i] = handle
    return [job for job in jobs if job is not None]


def _layout_error(queue: Queue, stored: int, counts: QueueCounts) -> ConfigError | None:
    """Why ``queue`` may not take over from a layout of ``stored`` shards; None when that
    layout holds no job (nothing would be left in shards no one serves)."""
    held = counts.pending + counts.scheduled + counts.running + counts.waiting
    if not held:
        return None
    return ConfigError(
        f"queue {queue.name!r} has {held} jobs in its {stored} shard(s), and this process "
        f"declares shards={queue.shards}: its jobs would be left where no worker looks. Keep "
        f"shards={stored} until they are done (pause, let workers finish, then change it)")


async def stored_shards(redis: aredis.Redis, name: str) -> int:
    """How many shards queue ``name`` was last used with (1 when it was never recorded)."""
    raw = await redis.get(QueueKeys(name).shards)
    return int(raw) if raw else 1


async def register(redis: aredis.Redis, queue: Queue) -> None:
    """Add ``queue`` to the registry of queues and record its shards; ``ConfigError`` when it
    has jobs in another layout (a queue first used unsharded has one shard)."""
    await redis.sadd(REGISTRY, queue.name)
    stored = await redis.set(queue.keys.shards, queue.shards, nx=True, get=True)
    if stored is None or int(stored) == queue.shards:
        return
    before = type(queue)(queue.name, settings=queue.settings, shards=int(stored))
    try:
        error = _layout_error(queue, int(stored), await before.inspect.counts())
    finally:
        await before.aclose()
    if error is not None:
        raise error
    await redis.set(queue.keys.shards, queue.shards)


def register_sync(client: redis.Redis, queue: Queue) -> None:
    """``register`` for the blocking client."""
    client.sadd(REGISTRY, queue.name)
    stored = client.set(queue.keys.shards, queue.shards, nx=True, get=True)
    if stored is None or int(stored) == queue.shards:
        return
    before = type(queue)(queue.name, settings=queue.settings, shards=int(stored))
    try:
        error = _layout_error(queue, int(stored), before.counts_sync())
    finally:
        before.close_sync()
    if error is not None:
        raise error
    client.set(queue.keys.shards, queue.shards)
