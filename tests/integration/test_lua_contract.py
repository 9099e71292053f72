"""The scripts against a real server: the msgpack they build decodes with the protocol's structs,
they read envelopes whose names have any length, and every ``Scripts`` method passes its keys
and arguments under the names its script binds them to."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import msgspec
import pytest
import redis.asyncio as aredis

from asyncjobs import JobStatus, Queue
from asyncjobs.endpoint import async_client, parse
from asyncjobs.protocol import (
    DEAD_LETTER_DECODER,
    ENCODER,
    OUTCOME_DECODER,
    DeadLetter,
    Envelope,
    ErrorKind,
)
from asyncjobs.scripts import Finished
from asyncjobs.scripts.source import compose

from .conftest import running_worker

pytestmark = pytest.mark.anyio

LENGTHS = [0, 1, 31, 32, 255, 256, 65535, 65536]


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aredis.Redis]:
    r = async_client(parse(redis_url), socket_timeout=5.0, resend=False, max_connections=4)
    yield r
    await r.aclose()


async def run_lua(client: aredis.Redis, body: str, *args: bytes | str | float) -> object:
    return await client.eval(compose(body), 0, *args)  # type: ignore[no-untyped-call, misc]


@pytest.mark.parametrize("n", LENGTHS)
async def test_lua_dead_letters_decode_into_the_declared_structs(client: aredis.Redis, n: int) -> None:
    text, payload = "é" * (n // 2) + "x" * (n % 2), bytes(range(256)) * (n // 256 + 1)
    body = """--- @include lib/dead_letter
return {encode_dead_letter(ARGV[1], ARGV[2], ARGV[3], 'q', 'w-1', ARGV[4], ARGV[5]),
        encode_dead_letter(ARGV[1], ARGV[2], ARGV[3], 'q', 'w-1', ARGV[4]),
        encode_dead_outcome(ARGV[1], ARGV[2])}"""
    with_id, without_id, outcome = await run_lua(  # type: ignore[misc]
        client, body, text, text[::-1], payload, 1700000000.5, "id-1"
    )
    expected = DeadLetter(text, text[::-1], payload, "q", "w-1", 1700000000.5, "id-1")
    assert DEAD_LETTER_DECODER.decode(with_id) == expected
    assert DEAD_LETTER_DECODER.decode(without_id).job_id is None
    error = OUTCOME_DECODER.decode(outcome).error
    assert error is not None and (error.kind, error.type, error.message) == (
        ErrorKind.DEAD, text, text[::-1])


@pytest.mark.parametrize("n", LENGTHS)
async def test_lua_reads_the_head_of_envelopes_with_names_of_any_length(
    client: aredis.Redis, n: int
) -> None:
    job_id = ("a" * n)[:128] or "x"
    task = "t" * n
    envelope = ENCODER.encode(Envelope(job_id, task, msgspec.Raw(b"\x90"), 1.0))
    body = "--- @include lib/job_head\nlocal id, task = job_head(ARGV[1])\nreturn {id, task}"
    assert await run_lua(client, body, envelope) == [job_id.encode(), task.encode()]
    assert await run_lua(client, body, b"\x94\xc0") == []  # poison: no id, no error


@pytest.mark.parametrize("n", [256, 70_000])
async def test_tasks_with_long_names_run(queue: Queue, n: int) -> None:
    @queue.task(name="t" * n)
    async def echo(x: int) -> int:
        return x

    job = await echo.delay(7)
    info = await job.info()
    assert info is not None and info.task == echo.name and info.status is JobStatus.QUEUED
    async with running_worker(queue):
        assert await job.result(timeout=10) == 7


async def test_every_script_runs_with_the_names_its_source_binds(queue: Queue) -> None:
    """Each ``Scripts`` method checks its names against the script's bindings on each call:
    this calls every one, so a wrapper that disagrees with its script fails here."""

    @queue.task
    async def work() -> None:
        return None

    scripts = queue.connection().scripts
    keys = queue.keys
    processing = keys.processing("contract")
    now = time.time()
    job = await work.delay()
    [(entry, attempt)] = await scripts.fetch(processing, 1)
    assert attempt == 1
    assert await scripts.start(processing, entry, queue.redis) == (entry, 1 + attempt)
    assert await scripts.retry(processing, entry, job_id=job.id, due=now - 1, error="E: x",
                               token="contract:2")
    assert await scripts.promote(now) == (1, None)
    [(entry, _)] = await scripts.fetch(processing, 1)
    assert await scripts.reconcile(processing, [entry]) == 0
    assert await scripts.requeue(processing) == 1
    [(entry, attempt)] = await scripts.fetch(processing, 1)
    outcome = ENCODER.encode(OUTCOME_DECODER.decode(b"\x92\xc0\xc0"))
    finished = Finished(entry, job.id, JobStatus.COMPLETE, outcome, now, 60, "contract:3", job.id.encode())
    assert await scripts.finish(processing, [finished]) == [True]
    assert await scripts.finish(processing, [finished]) == [True], "a re-sent finish is ours"
    poison = b"\x94\xc0"
    await queue.redis.lpush(processing, poison)
    letter = ENCODER.encode(DeadLetter("decode_error", "bad", poison, queue.name, "contract", now))
    assert await scripts.dead(processing, poison, record=letter, job_id=None, outcome=outcome,
                              finished_at=now, reason="decode_error")
    assert await scripts.revive(letter, poison, None)
    assert not await scripts.revive(letter, poison, None), "a dead letter is revived once"
    assert await scripts.reap("contract", reaper="tester", now=now) == (0, 0)
    assert await scripts.enqueue([ENCODER.encode(Envelope(job.id, "x", msgspec.Raw(b"\x90"), now))],
                                 now) == [False], "an id is enqueued once"
    assert await scripts.cancel(job.id, outcome) is False, "a finished job is not cancelled"
    assert await scripts.note(job.id, 0.5, "", []) is False, "a finished job reports nothing"
