"""Sharded queues (``Queue(name, shards=N)``): jobs spread over every shard and run, results and
records by id from any process, keys that keep their jobs in one shard, counts and admin reads
over all shards, pause, schedules, pipelines, events, the sync API, and each bad input."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import anyio
import pytest

from asyncjobs import ConfigError, Queue, Settings, Worker
from asyncjobs.admin import Admin
from asyncjobs.endpoint import async_client, parse
from asyncjobs.protocol import schedule_job_id, shard_index
from tests.support.waiting import holds_for, wait_until

from .conftest import ON_CLUSTER, TEST_SETTINGS, running_worker

pytestmark = pytest.mark.anyio

Make = Callable[..., Queue]


@pytest.fixture
async def make_sharded(redis_url: str) -> AsyncIterator[Make]:
    made: list[Queue] = []

    def make(shards: int = 4, name: str | None = None, **overrides: object) -> Queue:
        queue = Queue(name or f"t-{uuid.uuid4().hex[:12]}", redis_url,
                      settings=replace(TEST_SETTINGS, **overrides), shards=shards)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        await queue.aclose()


def an_id_of_shard(queue: Queue, shard: int) -> str:
    return next(job_id for job_id in (f"id-{i}" for i in range(10_000))
                if shard_index(job_id, queue.shards) == shard)


async def test_jobs_spread_over_every_shard_and_results_are_read_by_id(make_sharded: Make) -> None:
    queue = make_sharded(4)

    @queue.task(name="double")
    async def double(n: int) -> int:
        return 2 * n

    delayed = [await double.delay(i) for i in range(200)]
    many = await queue.enqueue_many([double.call(i) for i in range(200, 400)])
    jobs = delayed + many
    counts = await queue.inspect.counts()
    assert counts.pending == 400
    per_shard = [(await shard.inspect.counts()).pending for shard in queue.shard_queues]
    assert sum(per_shard) == 400 and min(per_shard) > 50, per_shard  # all four, about even
    for job in jobs:  # a handle names its job in the job's shard
        assert job.dependency == f"{queue.shard_of(job.id).keys.key_base} {job.id}"
    async with running_worker(queue, concurrency=20):
        assert [await job.result(timeout=20) for job in jobs] == [2 * i for i in range(400)]
    reader = Queue(queue.name, queue.settings.redis_url, shards=4)  # another process's handle
    try:
        assert [await reader.result(job.id, timeout=5) for job in jobs[::37]] == \
            [2 * i for i in range(0, 400, 37)]
        info = await reader.inspect.job(jobs[5].id)
        assert info is not None and info.status.value == "complete"
        totals = await reader.inspect.counts()
        assert (totals.complete, totals.pending, totals.running) == (400, 0, 0)
    finally:
        await reader.aclose()


async def test_a_key_keeps_its_jobs_in_one_shard_and_holds_across_the_queue(
    make_sharded: Make,
) -> None:
    queue = make_sharded(4)
    running: list[str] = []
    most: list[int] = [0]
    gate = anyio.Event()

    @queue.task(name="keyed", key_concurrency=1)
    async def keyed(key: str) -> str:
        running.append(key)
        most[0] = max(most[0], running.count(key))
        await gate.wait()
        running.remove(key)
        return key

    @queue.task(name="once")
    async def once() -> int:
        return 1

    firsts = [await once.options(unique_key="the-key").delay() for _ in range(50)]
    assert {job.id for job in firsts} == {firsts[0].id}  # one job for the key
    assert shard_index(firsts[0].id, 4) == shard_index("the-key", 4)
    jobs = [await keyed.options(concurrency_key=f"k{i % 3}").delay(f"k{i % 3}")
            for i in range(30)]
    for i, job in enumerate(jobs):
        assert shard_index(job.id, 4) == shard_index(f"k{i % 3}", 4)
    async with running_worker(queue, concurrency=30), running_worker(queue, concurrency=30):
        await wait_until(lambda: len(running) == 3, what="one job of each key running")
        await holds_for(lambda: len(running) == 3, 0.3, "no second job of a key starts")
        gate.set()
        assert [await job.result(timeout=20) for job in jobs] == [f"k{i % 3}" for i in range(30)]
        assert await firsts[0].result(timeout=10) == 1
    assert most[0] == 1


async def test_a_callers_id_outside_its_keys_shard_is_refused_and_nothing_is_written(
    make_sharded: Make,
) -> None:
    queue = make_sharded(4)

    @queue.task(name="once")
    async def once() -> int:
        return 1

    wrong = an_id_of_shard(queue, (shard_index("k", 4) + 1) % 4)
    with pytest.raises(ConfigError, match=r"is in shard \d of queue .* key .* is in shard"):
        await once.options(job_id=wrong, unique_key="k").delay()
    with pytest.raises(ConfigError, match="is in shard"):
        await queue.enqueue_many([once.call(), once.options(job_id=wrong, unique_key="k").call()])
    assert (await queue.inspect.counts()).pending == 0
    right = an_id_of_shard(queue, shard_index("k", 4))
    job = await once.options(job_id=right, unique_key="k").delay()
    assert job.id == right and queue.shard_of(right) is queue.shard_queues[shard_index("k", 4)]


async def test_bad_shards_and_limits_a_sharded_queue_cannot_hold_are_refused(
    redis_url: str,
) -> None:
    for bad in (0, -1, 257, True, 2.0, "2"):
        with pytest.raises(ConfigError, match="shards must be an int from 1 to 256"):
            Queue("bad", redis_url, shards=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="a sharded queue takes no Settings.rate_limit"):
        Queue("bad", redis_url, settings=Settings(rate_limit="5/s"), shards=2)
    queue = Queue("bad", redis_url, shards=2)
    for option in ({"max_concurrency": 2}, {"rate_limit": "5/s"}):
        with pytest.raises(ConfigError, match="holds within one shard"):
            queue.task(name="limited", **option)(lambda: None)  # type: ignore[call-overload]
    assert not queue.tasks
    with pytest.raises(ConfigError, match=r"concurrency \(3\) must be at least .* \(4\)"):
        Worker(Queue("bad", redis_url, shards=4), concurrency=3)


async def test_shards_changed_while_jobs_wait_are_refused_and_taken_once_drained(
    make_sharded: Make,
) -> None:
    two = make_sharded(2)

    @two.task(name="noop")
    async def noop() -> None:
        return None

    job = await noop.delay()
    four = make_sharded(4, name=two.name)

    @four.task(name="noop")
    async def noop4() -> None:
        return None

    with pytest.raises(ConfigError, match=r"has 1 jobs in its 2 shard\(s\), and this process "
                                          r"declares shards=4"):
        await noop4.delay()
    with pytest.raises(ConfigError, match="declares shards=4"):
        await Worker(four, burst=True).run()
    assert (await two.inspect.counts()).pending == 1
    await Worker(two, burst=True).run()
    assert await job.result(timeout=5) is None
    later = await noop4.delay()  # drained: the new layout is taken
    await Worker(four, burst=True).run()
    assert await later.result(timeout=5) is None


async def test_pause_holds_every_shard_and_schedules_live_on_the_first(make_sharded: Make) -> None:
    queue = make_sharded(3)
    started: list[int] = []

    @queue.task(name="note")
    async def note(n: int) -> int:
        started.append(n)
        return n

    await queue.pause()
    assert await queue.is_paused() and (await queue.inspect.counts()).paused
    assert all([await shard.is_paused() for shard in queue.shard_queues])
    jobs = [await note.delay(i) for i in range(12)]
    async with running_worker(queue, concurrency=6):
        await holds_for(lambda: not started, 0.5, "nothing starts while paused")
        await queue.resume()
        assert sorted([await job.result(timeout=10) for job in jobs]) == list(range(12))
    assert not await queue.is_paused()
    info = await queue.schedule("every-second", note.call(7), every=1)
    assert [s.name for s in await queue.schedules()] == [info.name]
    home = queue.shard_queues[0]
    assert await home.redis.hexists(home.keys.schedules, "every-second")
    async with running_worker(queue, concurrency=6):
        await wait_until(lambda: last_run(queue), what="a slot of the schedule run")
        [fired] = await queue.schedules()
        assert fired.last_run is not None
        job_id = schedule_job_id("every-second", fired.last_run.timestamp())
        assert queue.shard_of(job_id) is home
        assert await queue.result(job_id, timeout=10) == 7  # read by id, in its shard
    assert await queue.unschedule("every-second")


@pytest.mark.skipif(ON_CLUSTER, reason="a group's callback waits for jobs of every shard: "
                                       "one server only")
async def test_pipelines_and_groups_run_on_a_sharded_queue(make_sharded: Make) -> None:
    queue = make_sharded(4)

    @queue.task(name="add")
    async def add(a: int, b: int) -> int:
        return a + b

    @queue.task(name="total")
    async def total(values: list[int]) -> int:
        return sum(values)

    async with running_worker(queue, concurrency=8):
        last = await queue.enqueue(add.call(1, 2).then(add, 10).then(add, 100))
        assert await last.result(timeout=10) == 113
        group = await queue.enqueue_group([add.call(i, i) for i in range(20)], then=total)
        assert await group.result(timeout=10) == sum(2 * i for i in range(20))


async def test_a_pipeline_stays_in_the_shard_of_its_first_step(make_sharded: Make) -> None:
    queue = make_sharded(4)

    @queue.task(name="inc")
    async def inc(n: int) -> int:
        return n + 1

    pipeline = inc.call(0).then(inc).then(inc).then(inc)
    assert len({shard_index(call.job_id, 4) for call in pipeline.calls}) == 1
    async with running_worker(queue, concurrency=8):
        assert await (await queue.enqueue(pipeline)).result(timeout=10) == 4


async def test_events_of_every_shard_merge_and_a_jobs_come_from_its_shard(
    make_sharded: Make,
) -> None:
    queue = make_sharded(3)

    @queue.task(name="noop")
    async def noop(n: int) -> int:
        return n

    with pytest.raises(ConfigError, match="give since= a time"):
        queue.events(since="1-0")
    seen: list[str] = []
    mine: list[str] = []
    jobs = []

    async def follow_all() -> None:
        async for event in queue.events(since=0):
            if event.kind.value == "completed":
                seen.append(event.job_id)  # noqa: PERF401 (each as it comes)

    async def follow_one(job_id: str) -> None:
        async for event in queue.events(job_id=job_id, since=0):
            mine.append(event.kind.value)  # noqa: PERF401 (each as it comes)

    async with anyio.create_task_group() as tg, running_worker(queue, concurrency=6):
        tg.start_soon(follow_all)
        jobs = [await noop.delay(i) for i in range(30)]
        tg.start_soon(follow_one, jobs[0].id)
        await wait_until(lambda: len(seen) == 30, what="30 completions over 3 shards")
        await wait_until(lambda: mine[-1:] == ["completed"], what="the one job's events")
        tg.cancel_scope.cancel()
    assert sorted(seen) == sorted(job.id for job in jobs)
    assert {queue.shard_of(job.id).name for job in jobs} == {s.name for s in queue.shard_queues}
    assert mine[0] == "enqueued"


async def test_admin_reads_sum_the_shards_and_find_a_job_in_its_shard(
    make_sharded: Make, redis_url: str,
) -> None:
    queue = make_sharded(4)

    @queue.task(name="noop")
    async def noop(n: int) -> int:
        return n

    jobs = await queue.enqueue_many([noop.call(i) for i in range(40)])
    async with Admin(redis_url) as admin:
        [summary] = await admin.info([queue.name])
        assert summary.pending == 40
        listed = await admin.jobs(queue.name, "queued", limit=100)
        assert sorted(job.id for job in listed) == sorted(job.id for job in jobs)
        assert (await admin.job(queue.name, jobs[7].id)).status == "queued"
        async with running_worker(queue, concurrency=8):
            assert await jobs[-1].result(timeout=10) == 39
            await wait_until(lambda: admin_complete(redis_url, queue.name, 40), what="40 complete")
        for i, job in enumerate(jobs[:8]):  # each in its shard
            detail = await admin.job(queue.name, job.id)
            assert (detail.status, detail.result) == ("complete", i)


async def admin_complete(redis_url: str, name: str, count: int) -> bool:
    async with Admin(redis_url) as admin:
        [summary] = await admin.info([name])
        return summary.complete == count


def test_the_blocking_api_routes_every_call_to_its_shard(redis_url: str) -> None:
    queue = Queue(f"t-{uuid.uuid4().hex[:12]}", redis_url, settings=TEST_SETTINGS, shards=3)

    @queue.task(name="square")
    def square(n: int) -> int:
        return n * n

    jobs = [square.delay_sync(i) for i in range(30)] + queue.enqueue_many_sync(
        [square.call(i) for i in range(30, 60)])
    assert queue.counts_sync().pending == 60
    assert len({queue.shard_of(job.id).name for job in jobs}) == 3  # all but surely
    anyio.run(lambda: Worker(queue, burst=True).run())
    assert [job.result(timeout=5) for job in jobs] == [i * i for i in range(60)]
    assert queue.result_sync(jobs[3].id, timeout=5) == 9
    info = queue.job_sync(jobs[4].id)
    assert info is not None and info.status.value == "complete"
    queue.close_sync()


@pytest.mark.skipif(not ON_CLUSTER, reason="needs the cluster (ASYNCJOBS_TEST_CLUSTER=1)")
async def test_three_shards_land_on_the_three_masters_of_the_cluster(make_sharded: Make) -> None:
    queue = make_sharded(3)
    client = async_client(parse(queue.settings.redis_url), socket_timeout=5.0, resend=False,
                          max_connections=4)
    await client.initialize()
    try:
        nodes = {client.get_node_from_key(shard.keys.pending).name  # type: ignore[attr-defined]
                 for shard in queue.shard_queues}
    finally:
        await client.aclose()
    assert len(nodes) == 3


async def test_no_shard_starves_behind_another_shards_backlog(make_sharded: Make) -> None:
    queue = make_sharded(3)

    @queue.task(name="nap")
    async def nap(ms: int) -> int:
        await anyio.sleep(ms / 1000)
        return ms

    ids = (f"backlog-{i}" for i in range(100_000))
    backlog = [next(i for i in ids if shard_index(i, 3) == 0) for _ in range(300)]
    await queue.enqueue_many([nap.options(job_id=job_id).call(10) for job_id in backlog])
    async with running_worker(queue, concurrency=4):
        await wait_until(lambda: running(queue.shard_queues[0]), what="the backlog running")
        other = await nap.options(job_id=an_id_of_shard(queue, 1)).delay(0)
        assert await other.result(timeout=10) == 0
        left = (await queue.shard_queues[0].inspect.counts()).pending
    assert left > 150, f"the other shard's job waited for the backlog: {left} left"


async def running(queue: Queue) -> bool:
    return (await queue.inspect.counts()).running > 0


async def last_run(queue: Queue) -> bool:
    return any(schedule.last_run is not None for schedule in await queue.schedules())
