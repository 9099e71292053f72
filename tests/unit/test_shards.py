"""Sharding without a server: shard tags spread over the slot ranges, ids and keys name their
shard, and a batch is split into waves that keep every dependency behind the job it waits for."""

from __future__ import annotations

import binascii

import pytest

from asyncjobs import ConfigError, Queue
from asyncjobs.protocol import QueueKeys, shard_index, shard_tag
from asyncjobs.shards import shard_waves


@pytest.mark.parametrize("shards", [1, 2, 3, 5, 16, 256])
def test_each_shard_tag_is_in_its_own_range_of_slots(shards: int) -> None:
    for index in range(shards):
        tag = shard_tag("events", index, shards)
        assert tag == shard_tag("events", index, shards)  # the same in every process
        slot = binascii.crc_hqx(tag.encode(), 0) % 16384
        assert index * 16384 // shards <= slot < (index + 1) * 16384 // shards
        keys = QueueKeys("events", shard=(index, shards))
        assert (keys.queue, keys.name) == ("events", tag)
        assert keys.pending == f"aj:{{{tag}}}:pending"


def test_a_shard_tag_is_never_a_queue_name() -> None:
    with pytest.raises(ConfigError):
        QueueKeys(shard_tag("events", 1, 4))


def test_ids_and_keys_name_their_shard() -> None:
    queue = Queue("events", shards=4)

    @queue.task(name="t", key_concurrency=1)
    def t() -> None: ...

    counts = [0] * 4
    for _ in range(4000):
        counts[shard_index(t.call().job_id, 4)] += 1
    assert min(counts) > 800  # spread: about 1,000 each
    keyed = [t.options(concurrency_key="k").call().job_id for _ in range(20)]
    assert {shard_index(job_id, 4) for job_id in keyed} == {shard_index("k", 4)}
    assert all(queue.shard_of(job_id) is queue.shard_queues[shard_index("k", 4)]
               for job_id in keyed)


def test_calls_that_wait_go_in_waves_after_those_they_wait_for() -> None:
    queue = Queue("events", shards=3)

    @queue.task(name="t")
    def t(n: int) -> int:
        return n

    free = [t.call(n) for n in range(9)]
    pipeline = t.call(100).then(t).then(t)
    waiting = t.options(after=[call.job_id for call in free]).call(0)
    calls = [*free, *pipeline.calls, waiting]
    waves = shard_waves(queue, calls)
    first = sorted(i for _, indices in waves[0] for i in indices)
    assert first == [*range(9), 9]  # every call that waits for none, the pipeline's first too
    rest = [indices for wave in waves[1:] for _, indices in wave]
    assert rest == [[10, 11], [12]] or rest == [[10, 11, 12]]  # in order, a run per shard
    for wave in waves:
        for shard, indices in wave:
            assert all(queue.shard_of(calls[i].job_id) is shard for i in indices)


def test_a_unique_key_and_a_concurrency_key_of_two_shards_are_refused_in_one_call() -> None:
    queue = Queue("events", shards=4)

    @queue.task(name="t", key_concurrency=1)
    def t() -> None: ...

    keys = [f"k{i}" for i in range(100)]
    one = keys[0]
    other = next(key for key in keys if shard_index(key, 4) != shard_index(one, 4))
    same = next(key for key in keys[1:] if shard_index(key, 4) == shard_index(one, 4))
    with pytest.raises(ConfigError, match="unique key, concurrency key are in different ones"):
        t.options(unique_key=one, concurrency_key=other).call()
    call = t.options(unique_key=one, concurrency_key=same).call()
    assert shard_index(call.job_id, 4) == shard_index(one, 4)
