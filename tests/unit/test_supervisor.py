"""The command line of each child of ``asyncjobs worker --processes N``."""

from __future__ import annotations

import sys

from asyncjobs.supervisor import worker_commands

ARGV = ["worker", "--concurrency", "50", "--", "app:queue", "app:other"]
HEAD = [sys.executable, "-m", "asyncjobs", "worker", "--concurrency", "50", "--supervised"]


def test_each_child_runs_the_same_command_supervised_with_the_targets_last() -> None:
    command = worker_commands(ARGV, worker_id=None, metrics_port=None)
    assert command(0, 0) == [*HEAD, "--", "app:queue", "app:other"]
    assert command(1, 5) == command(0, 0)


def test_each_child_gets_its_own_worker_id_and_its_slot_s_metrics_port() -> None:
    command = worker_commands(ARGV, worker_id="web", metrics_port=9100)
    assert command(0, 0) == [*HEAD, "--worker-id", "web-0", "--metrics-port", "9100", "--",
                             "app:queue", "app:other"]
    # a restart: the next worker id, the same port as the child it replaces
    assert command(1, 2)[len(HEAD):] == ["--worker-id", "web-2", "--metrics-port", "9101", "--",
                                         "app:queue", "app:other"]


def test_metrics_port_0_lets_every_child_pick_a_free_port() -> None:
    command = worker_commands(ARGV, worker_id=None, metrics_port=0)
    assert command(3, 3)[len(HEAD):len(HEAD) + 2] == ["--metrics-port", "0"]
