"""The invariants of the reliability contract (I1-I7), checked over a queue's jobs after a
scenario, ``dump``: what each list holds and what the workers said, for a failed wait, and
``locate``: where jobs with no outcome are, for a run that stalled."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from asyncjobs import Queue
from asyncjobs.protocol import Field, JobState

from .ledger import Ledger
from .supervisor import Supervisor
from .waiting import wait_until

KEY_FAMILIES = re.compile(
    r"aj:\{[^}]+\}:(pending|scheduled|dead|failed|stats|workers|seq|job:[A-Za-z0-9_.:\-]+"
    r"|processing:[A-Za-z0-9_.\-]+|hb:[A-Za-z0-9_.\-]+|minute:\d+|conc:rate:.+|conc:qrate(:next)?|events|shards)"
)


@dataclass
class Invariants:
    ids: int
    results: int
    failed: int
    dead: int
    duplicate_completions: int
    executions: int
    completed_runs: int
    overlaps: int


async def dump(queue: Queue, supervisor: Supervisor | None = None) -> str:
    r = queue.redis
    lines = [f"pending={await r.llen(queue.keys.pending)}"
             f" scheduled={await r.zcard(queue.keys.scheduled)}"
             f" dead={await r.llen(queue.keys.dead)} stats={await queue.inspect.stats()}"]
    lines += [f"{key!r}: {await r.llen(key)} entries"
              async for key in r.scan_iter(match=f"{queue.keys.base}:processing:*")]
    lines.append(f"workers={await r.zrange(queue.keys.workers, 0, -1)}")
    if supervisor is not None:
        lines.append(supervisor.stderr())
    return "\n".join(lines)


async def locate(queue: Queue, ids: list[str]) -> str:
    """For each of ``ids`` with no outcome: its record and every key of the queue that names
    it (a list, set, sorted set or string holding its id or its entry)."""
    r = queue.redis
    _, missing = await _outcomes(queue, ids)
    lines = [f"{len(missing)} jobs have no outcome"]
    wanted = [job_id.encode() for job_id in missing[:20]]
    lines += [f"{job_id}: record {await r.hgetall(queue.keys.job(job_id))}"
              for job_id in missing[:20]]
    read = {"list": lambda key: r.lrange(key, 0, -1), "set": r.smembers,
            "zset": lambda key: r.zrange(key, 0, -1), "string": lambda key: r.mget([key]),
            "hash": r.hkeys}
    for kind, members_of in read.items():
        async for key in r.scan_iter(match=f"{queue.keys.base}:*", count=1000, _type=kind):
            if kind == "hash" and b":job:" in key:
                continue  # the records, shown above
            members = list(await members_of(key))
            named = [m for m in members if m is not None and any(w in m for w in wanted)]
            if named:
                lines.append(f"{key.decode()} ({kind}, {len(members)} members) names {named[:5]}")
    return "\n".join(lines)


async def _registered_at_most(queue: Queue, n: int) -> bool:
    return int(await queue.redis.zcard(queue.keys.workers)) <= n


async def _drained(queue: Queue) -> bool:
    r = queue.redis
    if await r.llen(queue.keys.pending) or await r.zcard(queue.keys.scheduled):
        return False
    async for key in r.scan_iter(match=f"{queue.keys.base}:processing:*"):
        if await r.llen(key):
            return False
    return True


async def _outcomes(queue: Queue, ids: list[str]) -> tuple[Counter[bytes], list[str]]:
    """How many jobs ended in each state, and the ids with no outcome at all."""
    states: Counter[bytes] = Counter()
    missing = []
    for start in range(0, len(ids), 1000):
        batch = ids[start:start + 1000]
        async with queue.redis.pipeline(transaction=False) as pipe:
            for job_id in batch:
                pipe.hmget(queue.keys.job(job_id), [Field.OUTCOME, Field.STATE])
            replies = await pipe.execute()
        for job_id, (outcome, state) in zip(batch, replies, strict=True):
            if outcome is None:
                missing.append(job_id)
            else:
                states[state] += 1
    return states, missing


async def check_invariants(
    queue: Queue,
    ids: list[str],
    ledger_dir: Path,
    *,
    max_duplicates: int = 0,
    dead_expected: dict[str, str] | None = None,
    live_workers: int = 0,
    drained_within: float = 10.0,
    supervisor: Supervisor | None = None,
) -> Invariants:
    """Assert I1 to I7 of the reliability contract over ``ids``; returns the counts."""
    r = queue.redis
    dead_expected = dead_expected or {}
    # I4: queue, schedule and processing lists empty
    await wait_until(lambda: _drained(queue), drained_within, "the queue to drain",
                     lambda: dump(queue, supervisor))
    states, missing = await _outcomes(queue, ids)
    # I1: every job reached a terminal state
    assert not missing, (
        f"{len(missing)} jobs have no outcome, e.g. {missing[:5]}\n" + await dump(queue, supervisor)
    )
    stats = await queue.inspect.stats()
    # I2: outcomes stored exactly once per id
    assert stats.get("complete", 0) + stats.get("failed", 0) + stats.get("dead", 0) == len(ids), stats
    # I3: duplicates within the bound
    duplicates = stats.get("duplicate_completions", 0)
    assert duplicates <= max_duplicates, f"{duplicates} duplicate completions > {max_duplicates}"
    # I5: the dead letters are exactly the expected ones
    letters = await queue.inspect.dead_letters(limit=100_000)
    assert {d.job_id: d.reason for d in letters if d.job_id} == dead_expected or (
        not dead_expected and not letters), [(d.job_id, d.reason) for d in letters]
    # I4 (registry): within N only live workers are registered
    await wait_until(lambda: _registered_at_most(queue, live_workers), 5, "dead workers reaped",
                     lambda: dump(queue, supervisor))
    # I7: every key belongs to a known family
    async for key in r.scan_iter(match=f"{queue.keys.base}:*"):
        assert KEY_FAMILIES.fullmatch(key.decode()), key
    ledger = Ledger.read(ledger_dir)
    result = Invariants(
        ids=len(ids), results=states[JobState.COMPLETE.encode()], failed=states[JobState.FAILED.encode()],
        dead=states[JobState.DEAD.encode()],
        duplicate_completions=duplicates, executions=ledger.started(),
        completed_runs=ledger.completed(), overlaps=ledger.overlaps(),
    )
    print(f"invariants hold: {result}")  # the figures, for -s runs
    return result
