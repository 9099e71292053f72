"""Jobs that wait for others (``options(after=...)``), across queues, with a real server and a
real worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from asyncjobs import (
    ConfigError,
    Job,
    JobCancelled,
    JobFailed,
    JobNotFound,
    JobState,
    Queue,
    ResultTimeout,
    TaskArgumentError,
)
from tests.support.waiting import holds_for

from .conftest import running_worker

pytestmark = pytest.mark.anyio


async def _status(queue: Queue, job_id: str) -> JobState | None:
    info = await queue.inspect.job(job_id)
    return info.status if info is not None else None


@pytest.mark.single_server("waits across queues, whose keys are in other slots of a cluster")
async def test_a_diamond_across_two_queues_runs_each_job_after_its_dependencies(
    make_queue: Callable[..., Queue],
) -> None:
    first, second = make_queue(), make_queue()
    gates = {"a": anyio.Event(), "b": anyio.Event()}
    order: list[str] = []

    @first.task
    async def fetch(name: str) -> str:
        await gates[name].wait()
        order.append(name)
        return name

    @second.task
    async def thumbnail(name: str) -> str:
        await gates[name].wait()
        order.append(name)
        return name

    @first.task
    async def publish(post: int) -> int:
        order.append("publish")
        return post

    @second.task
    async def announce(post: int) -> str:
        order.append("announce")
        return f"post {post} announced"

    try:
        async with running_worker([first, second]):
            a = await fetch.delay("a")
            b = await thumbnail.delay("b")
            c = await publish.options(after=[a, b]).delay(7)
            d = await announce.options(after=[c, a]).delay(7)
            assert await _status(first, c.id) is JobState.WAITING
            assert await _status(second, d.id) is JobState.WAITING
            gates["a"].set()
            assert await a.result(timeout=10) == "a"
            await holds_for(lambda: _is(first, c.id, JobState.WAITING), 0.3, "c waits for b")
            gates["b"].set()
            assert await d.result(timeout=10) == "post 7 announced"
            assert await c.result(timeout=10) == 7
        assert order == ["a", "b", "publish", "announce"]
        for queue in (first, second):
            assert await queue.redis.hlen(queue.keys.waiting) == 0
            assert await queue.redis.hlen(queue.keys.after) == 0
        assert await first.redis.exists(first.keys.dependents(a.id), second.keys.dependents(b.id),
                                        first.keys.dependents(c.id)) == 0
    finally:
        await first.aclose()
        await second.aclose()


async def _is(queue: Queue, job_id: str, state: JobState) -> bool:
    return await _status(queue, job_id) is state


async def test_a_failed_dependency_cancels_the_chain_or_lets_it_run(queue: Queue) -> None:
    @queue.task
    async def explode() -> None:
        raise ValueError("boom")

    @queue.task
    async def step(n: int) -> int:
        return n

    async with running_worker(queue):
        bad = await explode.delay()
        child = await step.options(after=[bad]).delay(1)
        grandchild = await step.options(after=[child]).delay(2)
        anyway = await step.options(after=[bad], on_dependency_failure="run").delay(3)
        with pytest.raises(JobCancelled, match=f"DependencyFailed.*{bad.id}"):
            await child.result(timeout=10)
        with pytest.raises(JobCancelled, match=f"DependencyFailed.*{child.id}"):
            await grandchild.result(timeout=10)
        assert await anyway.result(timeout=10) == 3
        # a dependency that already ended is judged at once
        late = await step.options(after=[bad]).delay(4)
        with pytest.raises(JobCancelled):
            await late.result(timeout=10)
        done = await step.delay(5)
        assert await done.result(timeout=10) == 5
        after_done = await step.options(after=[done.id]).delay(6)  # an id of this queue
        assert await after_done.result(timeout=10) == 6
    stats = await queue.inspect.stats()
    assert stats["cancelled"] == 3 and stats["failed"] == 1


async def test_a_cancelled_waiting_job_stays_cancelled(queue: Queue) -> None:
    gate = anyio.Event()

    @queue.task
    async def slow() -> int:
        await gate.wait()
        return 1

    @queue.task
    async def step(n: int) -> int:
        return n

    async with running_worker(queue):
        first = await slow.delay()
        waiting = await step.options(after=[first]).delay(1)
        assert await waiting.cancel()
        gate.set()
        assert await first.result(timeout=10) == 1
        with pytest.raises(JobCancelled):
            await waiting.result(timeout=1)
        assert await _status(queue, waiting.id) is JobState.CANCELLED
        assert (await queue.inspect.counts()).pending == 0


async def test_enqueue_many_may_wait_for_a_job_of_the_same_call(queue: Queue) -> None:
    @queue.task
    async def step(n: int) -> int:
        return n

    first = step.call(1)
    second = step.options(after=[first.job_id]).call(2)
    async with running_worker(queue):
        jobs = await queue.enqueue_many([second, first][::-1])
        assert [await j.result(timeout=10) for j in jobs] == [1, 2]


async def test_an_unknown_dependency_is_refused_and_nothing_is_written(queue: Queue) -> None:
    @queue.task
    async def step(n: int) -> int:
        return n

    real = await step.delay(1)
    with pytest.raises(JobNotFound, match="after= names job 'no-such-job', which does not exist"):
        await step.options(after=[real, "no-such-job"]).delay(2)
    with pytest.raises(JobNotFound, match="no-such-job"):  # the same from a blocking producer
        await anyio.to_thread.run_sync(lambda: step.options(after=["no-such-job"]).delay_sync(2))
    assert await queue.redis.hlen(queue.keys.queued) == 1  # the real one alone
    assert await queue.redis.exists(queue.keys.dependents(real.id)) == 0


async def test_bad_after_options_are_refused(queue: Queue) -> None:
    @queue.task
    async def step(n: int) -> int:
        return n

    cases: list[tuple[dict[str, Any], str]] = [
        ({"after": "job-1"}, "non-empty list"),
        ({"after": []}, "non-empty list"),
        ({"after": [3]}, "takes jobs or job ids, not int"),
        ({"after": ["bad id"]}, "job id"),
        ({"after": ["x"], "delay": 5}, "takes no delay"),
        ({"after": ["x"], "unique_key": "k"}, "takes no delay, at, unique_key"),
        ({"after": ["x"], "on_dependency_failure": "ignore"}, "must be 'cancel' or 'run'"),
    ]
    for options, message in cases:
        with pytest.raises(ConfigError, match=message):
            step.options(**options)


async def test_a_pipeline_passes_each_value_on_and_returns_the_last(queue: Queue) -> None:
    @queue.task
    async def fetch(url: str) -> str:
        return f"<html>{url}</html>"

    @queue.task
    async def parse(page: str, times: int = 1) -> int:
        return len(page) * times

    @queue.task
    def store(size: int, table: str) -> str:
        return f"{size} in {table}"

    @queue.task
    async def explode(page: str) -> int:
        raise ValueError(f"cannot handle {page}")

    async with running_worker(queue):
        job = await queue.enqueue(fetch.call("a.io").then(parse, times=2).then(store, table="posts"))
        assert await job.result(timeout=10) == "34 in posts"
        broken = await queue.enqueue(fetch.call("b.io").then(explode).then(store, "never"))
        with pytest.raises(JobFailed, match="ValueError: cannot handle <html>b.io</html>") as failure:
            await broken.result(timeout=10)
        assert "explode" in failure.value.traceback
        assert await _status(queue, broken.id) is JobState.CANCELLED
    stats = await queue.inspect.stats()
    assert (stats["complete"], stats["failed"], stats["cancelled"]) == (4, 1, 1)


async def test_bad_pipelines_are_refused(make_queue: Callable[..., Queue]) -> None:
    first, second = make_queue(), make_queue()

    @first.task
    async def fetch(url: str) -> str:
        return url

    @first.task
    async def count(page: str, *, times: int) -> int:
        return len(page) * times

    @first.task
    async def nothing() -> None:
        return None

    @second.task
    async def elsewhere(page: str) -> str:
        return page

    with pytest.raises(ConfigError, match="tasks of one queue"):
        fetch.call("x").then(elsewhere)
    with pytest.raises(TaskArgumentError, match="times"):
        fetch.call("x").then(count, times="many")  # type: ignore[arg-type]
    with pytest.raises(TaskArgumentError, match="no positional parameter"):
        fetch.call("x").then(nothing)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="has no task"):
        await second.enqueue(fetch.call("x").then(count, times=1))
    await first.aclose()
    await second.aclose()


async def test_a_group_of_a_thousand_runs_its_callback_once_with_every_value(queue: Queue) -> None:
    calls_of_callback: list[int] = []

    @queue.task
    async def square(n: int) -> int:
        return n * n

    @queue.task
    async def total(values: list[int]) -> int:
        calls_of_callback.append(len(values))
        return sum(values)

    @queue.task
    async def fail_on(n: int) -> int:
        if n == 3:
            raise ValueError("three")
        return n

    async with running_worker(queue, concurrency=50):
        members = [square.call(n) for n in range(1000)]
        job = await queue.enqueue_group(members, then=total)
        assert await job.result(timeout=60) == sum(n * n for n in range(1000))
        handles: list[Job[int]] = [Job(c.job_id, c.task, queue, c.decoder) for c in members[:5]]
        assert await queue.gather(handles, timeout=10) == [0, 1, 4, 9, 16]
        broken = await queue.enqueue_group([fail_on.call(n) for n in range(5)], then=total)
        with pytest.raises(JobCancelled, match="DependencyFailed"):
            await broken.result(timeout=10)
        with pytest.raises(JobFailed, match="three"):
            await queue.gather(await queue.enqueue_many([fail_on.call(n) for n in range(5)]))
    assert calls_of_callback == [1000]
    assert await queue.redis.exists(queue.keys.gathered(job.id)) == 0


async def test_gather_gives_up_after_its_timeout(queue: Queue) -> None:
    @queue.task
    async def never() -> None:
        return None

    job = await never.delay()  # no worker
    with pytest.raises(ResultTimeout, match="did not all finish within 0.2 s"):
        await queue.gather([job], timeout=0.2)


async def test_on_a_cluster_a_job_waits_only_for_its_own_queue(
    make_queue: Callable[..., Queue],
) -> None:
    """Refused before anything is sent: the URL says it is a cluster."""
    here = Queue("deps-here", "redis+cluster://127.0.0.1:1")
    there = make_queue()

    @here.task
    async def step(n: int) -> int:
        return n

    @there.task
    async def other(n: int) -> int:
        return n

    elsewhere = await other.delay(1)
    with pytest.raises(ConfigError, match="on a Redis Cluster a job waits only for jobs of its own"):
        step.options(after=[elsewhere])
    step.options(after=["a-job-of-its-own"])  # fine: the same slot
    await there.aclose()
