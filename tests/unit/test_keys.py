"""Key names: one place, one hash tag per queue, and names that cannot escape it."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from asyncjobs import ConfigError, Queue
from asyncjobs.protocol import QueueKeys


def test_all_keys_of_a_queue_share_one_cluster_slot() -> None:
    keys = QueueKeys("emails")
    names = [
        keys.pending, keys.queued, keys.workers, keys.dead, keys.stats, keys.done,
        keys.job("abc"), keys.processing("w-1"), keys.heartbeat("w-1"), keys.schedules,
        keys.schedule_state,
    ]
    assert {key_slot(name.encode()) for name in names} == {key_slot(b"emails")}
    assert all(name.startswith("aj:{emails}:") for name in names)


@pytest.mark.parametrize("name", ["", "a{b", "a}b", "a b", "a\nb", "x" * 65, "a:b"])
def test_bad_queue_names_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError):
        Queue(name)


@pytest.mark.parametrize("job_id", ["", "a{b}", "a b", "a\n", "x" * 129])
def test_bad_job_ids_are_rejected(job_id: str) -> None:
    with pytest.raises(ConfigError):
        QueueKeys("q").job(job_id)


def test_repr_hides_the_password() -> None:
    queue = Queue("q", "redis://user:pw-CANARY-7f3@localhost:6379/0")
    assert "pw-CANARY-7f3" not in repr(queue)
    assert "user:***@localhost:6379" in repr(queue)
