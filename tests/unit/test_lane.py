"""What a lane sends: the arguments packed as the protocol (and redis-py) would send them."""

from __future__ import annotations

import pytest

from asyncjobs.connection import lane_arg
from asyncjobs.lane import pack
from asyncjobs.protocol import JobState
from asyncjobs.scripts import FINISHED_ARGS, Finished, finished_args, pack_finished


def test_pack_counts_and_frames_each_part() -> None:
    assert pack(b"", b"ab", "é".encode()) == (3, b"$0\r\n\r\n$2\r\nab\r\n$2\r\n\xc3\xa9\r\n")


@pytest.mark.parametrize("job", [
    Finished(b"\x94\xa2id\xa4noop\x90\xcb", "id", JobState.COMPLETE, b"\x92\xc0\xc0",
             1796315806.9923308, 3600.0, "host-1-ab:12", b"id\x00noop"),
    Finished(b"", "j\xe9", JobState.FAILED, b"", 0.1, 0.0015, "w:\u00e9", b""),
    Finished(b"\r\n$3\r\n", "x", JobState.CANCELLED, b"\r\n", 1e20, 86400 * 365.0, "t", b"\n"),
])
def test_a_finished_job_is_packed_in_one_step_as_argument_by_argument(job: Finished) -> None:
    args = finished_args(job)
    assert len(args) == FINISHED_ARGS
    assert pack_finished(job) == pack(*[lane_arg(arg) for arg in args])[1]
