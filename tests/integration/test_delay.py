"""``.delay()`` validates before any Redis I/O, and enqueueing is one atomic step."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio
import pytest

from asyncjobs import (
    EnqueueError,
    Job,
    JobState,
    PayloadTooLarge,
    Queue,
    Settings,
    TaskArgumentError,
)
from asyncjobs.lane import Lane, pack
from asyncjobs.server import RedisServer

from .conftest import running_worker

pytestmark = pytest.mark.anyio


@pytest.fixture
def stopped_redis_url() -> Iterator[str]:
    """The URL of a server that has been started and stopped: nothing listens there."""
    server = RedisServer().start()
    url = server.url
    server.cleanup()
    yield url


def make_tasks(queue: Queue) -> None:
    @queue.task
    async def send_email(to: str, subject: str, body: str = "") -> dict[str, str]:
        return {}


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((1, "hi"), {}, "send_email.delay(): argument 'to': Expected `str`, got `int`"),
        (("a", "hi"), {"body": object()}, "send_email.delay(): argument 'body': Encoding objects"),
        (("a",), {}, "send_email.delay(): missing a required argument: 'subject'"),
        (("a", "b", "c", "d"), {}, "send_email.delay(): too many positional arguments"),
        (("a", "b"), {"cc": "x"}, "send_email.delay(): got an unexpected keyword argument 'cc'"),
    ],
)
async def test_bad_arguments_fail_before_any_io(
    stopped_redis_url: str, args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    queue = Queue("delay-errors", stopped_redis_url)
    make_tasks(queue)
    task = queue.tasks[next(iter(queue.tasks))]
    with pytest.raises(TaskArgumentError) as caught:
        await task.delay(*args, **kwargs)
    assert isinstance(caught.value, TypeError)
    assert str(caught.value).startswith(task.name.rpartition(".")[0])
    assert message in str(caught.value)


async def test_oversized_payload_fails_before_any_io(stopped_redis_url: str) -> None:
    queue = Queue("delay-errors", stopped_redis_url, settings=Settings(max_payload_bytes=1000))

    @queue.task(name="store")
    async def store(blob: bytes) -> None:
        return None

    with pytest.raises(PayloadTooLarge) as caught:
        await store.delay(b"x" * 2000)
    assert caught.value.limit == 1000 and caught.value.size > 2000
    assert "store.delay()" in str(caught.value)


async def test_enqueue_with_redis_down_raises_enqueue_error(stopped_redis_url: str) -> None:
    queue = Queue("delay-errors", stopped_redis_url, settings=Settings(enqueue_timeout=1.0))

    @queue.task(name="ping")
    async def ping() -> None:
        return None

    started = time.monotonic()
    with pytest.raises(EnqueueError):
        await ping.delay()
    assert time.monotonic() - started < 5
    await queue.aclose()


async def test_nothing_is_written_on_error(queue: Queue) -> None:
    @queue.task
    async def send(to: str) -> None:
        return None

    with pytest.raises(TaskArgumentError):
        await send.delay(123)  # type: ignore[arg-type]
    keys = [k async for k in queue.redis.scan_iter(match=f"{queue.keys.base}:*")]
    assert keys == []


@pytest.mark.single_server("counts script calls in one server's INFO commandstats")
async def test_enqueue_is_one_round_trip_and_bulk_is_one_script_call(queue: Queue) -> None:
    @queue.task
    async def send(to: str) -> None:
        return None

    await send.delay("warm-up")  # the first call on a server also loads the script
    before = await _calls(queue)
    await send.delay("a")
    assert await _calls(queue) - before == 1
    before = await _calls(queue)
    jobs = await queue.enqueue_many([send.call(f"u{i}") for i in range(100)])
    assert len({job.id for job in jobs}) == 100
    assert await queue.inspect.pending_count() == 102
    assert await _calls(queue) - before == 1  # one script call for all of them


async def test_a_large_bulk_with_delayed_calls_goes_in_batches_in_one_pipeline(queue: Queue) -> None:
    @queue.task
    async def send(to: str) -> None:
        return None

    now = [send.call(f"u{i}") for i in range(2_500)]  # three script calls of at most 1,000
    later = [send.options(delay=60).call(f"l{i}") for i in range(3)]
    again = send.options(job_id=now[0].job_id).call("taken")  # an id already in the bulk
    jobs = await queue.enqueue_many([*now, *later, again])
    assert [job.id for job in jobs] == [c.job_id for c in [*now, *later, again]]
    counts = await queue.inspect.counts()
    assert (counts.pending, counts.scheduled) == (2_500, 3)
    first = await queue.inspect.jobs(JobState.QUEUED, limit=1)
    assert [info.id for info in first] == [now[0].job_id]


async def _calls(queue: Queue) -> int:
    info = await queue.redis.info("commandstats")
    return sum(
        int(value["calls"]) for name, value in info.items() if name in ("cmdstat_evalsha", "cmdstat_eval")
    )


async def test_enqueue_survives_lost_connections_and_serves_concurrent_callers(
    queue: Queue,
) -> None:
    @queue.task
    async def send(to: str) -> None:
        return None

    await send.delay("warm-up")
    # every client connection is cut: the next enqueue reconnects and is not lost
    await queue.redis.client_kill_filter(_type="normal", skipme=True)
    await queue.redis.client_kill_filter(_type="normal", skipme=False)
    job = await send.delay("after the cut")
    assert (info := await job.info()) is not None and info.status.value == "queued"
    # many at once: one at a time goes by the lane, the others share calls; each enqueued once
    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(send.delay, f"u{i}")
    assert await queue.inspect.pending_count() == 202
    assert await queue.redis.hlen(queue.keys.queued) == 202


@pytest.mark.single_server("lanes are off on a cluster")
async def test_concurrent_enqueues_share_round_trips_and_each_gets_its_own_job(
    queue: Queue,
) -> None:
    @queue.task
    async def send(to: str) -> str:
        return to

    await send.delay("warm-up")
    before = await _script_calls(queue)
    jobs: dict[int, Job[str]] = {}

    async def producer(i: int) -> None:
        jobs[i] = await send.delay(f"u{i}")

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(producer, i)
    calls = await _script_calls(queue) - before
    assert calls < 20, f"100 concurrent enqueues made {calls} script calls"
    assert len({job.id for job in jobs.values()}) == 100
    assert await queue.inspect.pending_count() == 101
    async with running_worker(queue):
        for i, job in jobs.items():  # each handle is its own call's job
            assert await job.result(timeout=10) == f"u{i}"


@pytest.mark.single_server("lanes are off on a cluster")
async def test_a_caller_that_gives_up_on_a_shared_call_leaves_the_others_theirs(
    queue: Queue,
) -> None:
    @queue.task
    async def send(to: str) -> None:
        return None

    await send.delay("warm-up")
    given_up = 0
    kept: list[Job[None]] = []

    async def patient(i: int) -> None:
        kept.append(await send.delay(f"u{i}"))

    async def impatient(i: int) -> None:
        nonlocal given_up
        with anyio.move_on_after(0) as scope:  # cancelled at its first wait
            await send.delay(f"gone{i}")
        given_up += scope.cancelled_caught

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(patient, i)
            tg.start_soon(impatient, i)
    assert given_up  # some gave up while their call was shared
    assert len(kept) == 50
    for job in kept:  # every patient caller's job is there
        assert (info := await job.info()) is not None and info.status is JobState.QUEUED


async def _script_calls(queue: Queue) -> int:
    stats = await queue.redis.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_evalsha"))


@pytest.mark.single_server("lanes are off on a cluster")
async def test_a_cancelled_lane_call_leaves_no_reply_behind(queue: Queue) -> None:
    lane = Lane(queue.redis.connection_pool, "ECHO")
    try:
        for n in range(100):  # cancelled at every point of its way: the next call gets its own reply
            with anyio.move_on_after(n * 0.00001):
                await lane.call(pack(b"stale"))
            assert await lane.call(pack(b"%d" % n)) == b"%d" % n
    finally:
        await lane.aclose()


@pytest.mark.single_server("lanes are off on a cluster")
async def test_a_lane_call_larger_than_the_socket_takes_at_once_is_sent_whole(queue: Queue) -> None:
    lane = Lane(queue.redis.connection_pool, "ECHO")
    big = bytes(range(256)) * 40_000  # 10 MB: waits on the transport's buffer to drain
    try:
        for _ in range(3):
            assert await lane.call(pack(big)) == big
            assert await lane.call(pack(b"after")) == b"after"
    finally:
        await lane.aclose()
