"""What a cluster URL does when the cluster cannot serve, and what only a cluster shows: each is
one clear line, never a traceback or a lost job. (The whole tier runs on a cluster with
``ASYNCJOBS_TEST_CLUSTER=1``; see conftest.)"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
import redis

from asyncjobs import EnqueueError, Queue, Settings
from asyncjobs.endpoint import async_client, parse
from asyncjobs.server import RedisServer, free_cluster_port
from tests.support.waiting import wait_until

from .conftest import ON_CLUSTER, running_worker

pytestmark = pytest.mark.anyio

FAST = Settings(enqueue_timeout=2.0, socket_timeout=0.5, block_timeout=0.2)


@pytest.fixture(scope="module")
def partial_cluster() -> Iterator[str]:
    """A cluster node that serves slots 0-99 only."""
    node = RedisServer(port=free_cluster_port(), extra_args=(
        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")).start()
    try:
        with redis.Redis(port=node.port) as client:
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 99)
        yield f"redis+cluster://127.0.0.1:{node.port}"
    finally:
        node.cleanup()


def _enqueue_error(url: str) -> str:
    queue = Queue("cluster-errors", url, settings=FAST)

    @queue.task(name="noop")
    async def noop() -> None:
        return None

    async def run() -> str:
        try:
            with pytest.raises(EnqueueError) as info:
                await noop.delay()
            return str(info.value)
        finally:
            await queue.aclose()

    return anyio.run(run)


def test_unreachable_seeds_are_one_line() -> None:
    url = f"redis+cluster://127.0.0.1:{free_cluster_port()},127.0.0.1:{free_cluster_port()}"
    message = _enqueue_error(url)
    assert "no seed node answers" in message and "\n" not in message, message


def test_a_cluster_that_does_not_serve_every_slot_is_one_line(partial_cluster: str) -> None:
    message = _enqueue_error(partial_cluster)
    assert "does not serve every hash slot (100 of 16384 covered" in message, message
    assert "\n" not in message


@pytest.mark.skipif(not ON_CLUSTER, reason="needs the cluster (ASYNCJOBS_TEST_CLUSTER=1)")
async def test_notices_and_control_use_sharded_pubsub_on_the_channels_node(queue: Queue) -> None:
    gate = anyio.Event()

    @queue.task
    async def gated() -> int:
        await gate.wait()
        return 1

    client = async_client(parse(queue.settings.redis_url), socket_timeout=5.0, resend=False,
                          max_connections=4)
    await client.initialize()

    async def subscribers(channel: str) -> int:
        node = client.get_node_from_key(channel)  # type: ignore[attr-defined]
        reply = await client.execute_command(  # type: ignore[no-untyped-call]
            "PUBSUB", "SHARDNUMSUB", channel, target_nodes=node)
        return int(reply[1])

    try:
        async with running_worker(queue):
            job = await gated.delay()
            async with anyio.create_task_group() as tg:
                tg.start_soon(job.result, 10)
                # the waiter and the worker subscribe on the node that serves each channel
                for channel in (queue.keys.done, queue.keys.control):
                    await wait_until(lambda c=channel: subscribers(c), what=f"{channel} sharded")
                gate.set()
    finally:
        await client.aclose()


@pytest.mark.skipif(not ON_CLUSTER, reason="redis-py's cluster client: run with ASYNCJOBS_TEST_CLUSTER=1")
async def test_a_command_whose_connection_closed_before_its_write_is_sent_again(
    redis_url: str,
) -> None:
    """redis-py's cluster client closes a node's idle connections after another command's
    connection error; a command then written to one of them never reached Redis, so even a
    client that re-sends nothing (the worker's fetch client) sends it again, on a new one."""
    client = async_client(parse(redis_url), socket_timeout=5.0, resend=False, max_connections=4)
    try:
        await client.set("{closed}k", "v")
        node = client.get_node_from_key("{closed}k")  # type: ignore[attr-defined]
        idle = list(node._free)
        assert idle, "the SET left its connection idle"
        for connection in idle:
            connection._writer.transport.abort()
        assert await client.get("{closed}k") == b"v"
    finally:
        await client.aclose()
