"""A job's scope stops its task call on the fence, and leaves nothing pending behind it."""

from __future__ import annotations

import anyio
import pytest

from asyncjobs.config import Settings
from asyncjobs.protocol import QueueKeys
from asyncjobs.worker.lease import Lease

pytestmark = pytest.mark.anyio


def lost_lease() -> Lease:
    lease = Lease([(QueueKeys("q"), Settings())], "w1", heartbeat_client=lambda: None)  # type: ignore[arg-type, return-value]
    assert not lease.valid  # no beat yet
    return lease


async def test_a_job_that_starts_while_the_lease_is_lost_is_fenced_at_its_first_await() -> None:
    lease = lost_lease()
    with lease.scope(None) as scope:
        await anyio.sleep(5)
        pytest.fail("a fenced call ran on")
    assert scope.fenced and not scope.timed_out and not scope.cancelled


async def test_a_call_that_never_awaits_leaves_no_cancellation_behind() -> None:
    lease = lost_lease()
    with lease.scope(None) as scope:
        pass  # a job that returns at once: nothing to stop
    assert not scope.fenced
    with anyio.fail_after(1):
        await anyio.sleep(0.01)  # the runner's next await goes through: nothing pending


async def test_a_timeout_stops_the_call_and_says_so() -> None:
    lease = lost_lease()
    lease._valid_until = float("inf")  # a lease that holds
    with lease.scope(0.01) as scope:
        await anyio.sleep(5)
    assert scope.timed_out and not scope.fenced
