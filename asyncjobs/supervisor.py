"""``asyncjobs worker --processes N``: N worker processes under one supervisor.

Each child is a fresh ``python -m asyncjobs worker ...`` process with the same options, an
ordinary worker with its own worker id, heartbeat and lease. Fresh processes rather than
``fork``: a fork after the app is imported would copy its open Redis connections, threads
and event loop state into every child; a fresh interpreter imports the app itself, so a
restarted child also runs the code as it is on disk now. The supervisor itself never
imports the app and never talks to Redis.

- A child that dies is started again after a backoff (0.25 s, doubling up to 8 s; back to
  0.25 s once a child has run for a minute). A child that exits 0 (a ``--burst`` worker done)
  is not. Five deaths of one child slot within a minute are a crash loop, and a child that
  exits 2 (the command's own exit code for bad input, such as a target that cannot be
  imported) cannot be helped by a restart: either is reported in one line, the other
  children are stopped gracefully, and the supervisor exits non-zero.
- SIGTERM or SIGINT to the supervisor is passed on to every child (each stops as one worker
  does: running jobs get ``--grace`` seconds, the rest go back to the queue); the supervisor
  exits 0 once all have exited 0. A second signal is passed on too (stop now). The children
  run in their own session, so a Ctrl-C in a terminal reaches them once, through here.
- Each child's stdin is a pipe from the supervisor. If the supervisor dies, even by SIGKILL,
  the pipe reaches end-of-file and the child stops as on SIGTERM (``stop_when_orphaned``):
  its jobs finish within grace or go back to the queue, and what a child cannot put back is
  recovered by the lease once its heartbeat expires. A pipe works on every POSIX system and
  cannot fire by mistake (PR_SET_PDEATHSIG fires when the *thread* that started the child
  ends, and exists on Linux only).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import anyio
from anyio.abc import Process, TaskStatus

log: logging.Logger = logging.getLogger(__name__)

FIRST_DELAY = 0.25
MAX_DELAY = 8.0
STABLE_AFTER = 60.0
"""A child that ran this long resets its slot's backoff."""
CRASH_LOOP = 5
CRASH_WINDOW = 60.0
"""``CRASH_LOOP`` deaths of one slot within ``CRASH_WINDOW`` seconds are a crash loop."""
USAGE_EXIT = 2
"""The exit code of ``asyncjobs worker`` for bad input: a restart cannot help."""
KILL_AFTER_GRACE = 15.0
"""Seconds past the grace period after which children still running are killed."""


class Supervisor:
    """Keeps ``processes`` children running until stopped; ``command(slot, n)`` is the argv
    of the ``n``-th child started (0, 1, ...), in child slot ``slot`` (0 to ``processes - 1``).
    ``run()`` returns the exit code; ``problem`` then says why it is not 0, in one line.
    """

    def __init__(self, command: Callable[[int, int], Sequence[str]], processes: int, *,
                 grace: float) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.command = command
        self.processes = processes
        self.grace = grace
        self.problem: str | None = None
        self.exit_code: int = 0
        self._children: dict[int, Process] = {}
        self._started = 0
        self._stop_signal: signal.Signals | None = None
        self._passed_on: set[int] = set()  # the signals passed on to the children
        self._stopped = anyio.Event()

    async def run(self) -> int:
        async with anyio.create_task_group() as outer:
            await outer.start(self._watch_signals)
            async with anyio.create_task_group() as slots:
                for slot in range(self.processes):
                    slots.start_soon(self._keep, slot)
            outer.cancel_scope.cancel()
        if not self.exit_code:
            log.info("all %d worker processes exited", self.processes)
        return self.exit_code

    def stop(self, signum: signal.Signals = signal.SIGTERM) -> None:
        """Pass ``signum`` on to every child and start no new one."""
        self._stop_signal = signum
        self._passed_on.add(signum)
        self._stopped.set()
        for process in self._children.values():
            _signal(process, signum)

    def _fail(self, problem: str, code: int) -> None:
        if not self.exit_code:
            self.problem = problem
            self.exit_code = code
            self.stop()

    async def _keep(self, slot: int) -> None:
        deaths: deque[float] = deque()
        delay = FIRST_DELAY
        while not self._stopped.is_set():
            n, self._started = self._started, self._started + 1
            process = await anyio.open_process(self.command(slot, n), stdin=subprocess.PIPE,
                                               stdout=None, stderr=None, start_new_session=True)
            self._children[slot] = process
            if self._stop_signal is not None:  # a signal came while it started
                _signal(process, self._stop_signal)
            log.info("worker process %d started (pid %d)", slot, process.pid)
            began = time.monotonic()
            code = await self._wait(process)
            del self._children[slot]
            if self._stopped.is_set() or code == 0:
                # killed by a signal passed on: it came before the child's handlers were
                # set, so before its first job
                if code != 0 and -code not in self._passed_on:
                    self._fail(f"worker process {slot} (pid {process.pid}) {_how(code)} "
                               "while stopping", 1)
                return
            if code == USAGE_EXIT:
                self._fail(f"worker process {slot} exited with code 2: bad input, see its "
                           "error above; stopping", USAGE_EXIT)
                return
            now = time.monotonic()
            deaths.append(now)
            while deaths[0] < now - CRASH_WINDOW:
                deaths.popleft()
            if len(deaths) >= CRASH_LOOP:
                self._fail(f"crash loop: worker process {slot} died {len(deaths)} times within "
                           f"{CRASH_WINDOW:.0f} s (last: {_how(code)}); stopping", 1)
                return
            if now - began >= STABLE_AFTER:
                delay = FIRST_DELAY
            log.warning("worker process %d (pid %d) %s; restarting in %.2f s",
                        slot, process.pid, _how(code), delay)
            with anyio.move_on_after(delay):
                await self._stopped.wait()
            delay = min(delay * 2, MAX_DELAY)

    async def _wait(self, process: Process) -> int:
        """The child's exit code, once it has exited; a child still running ``grace`` plus
        ``KILL_AFTER_GRACE`` seconds after a stop is killed."""
        async with anyio.create_task_group() as group:
            async def deadline() -> None:
                await self._stopped.wait()
                await anyio.sleep(self.grace + KILL_AFTER_GRACE)
                log.warning("worker process pid %d still running %.0f s after the "
                            "stop; killing it", process.pid, self.grace + KILL_AFTER_GRACE)
                process.kill()

            group.start_soon(deadline)
            code = await process.wait()
            group.cancel_scope.cancel()
        await process.aclose()
        return code

    async def _watch_signals(self, *, task_status: TaskStatus[None]) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                name = signal.Signals(signum).name
                log.info("%s, stopping %d worker processes (grace %.0f s)",
                         name, len(self._children), self.grace)
                self.stop(signal.Signals(signum))


def _signal(process: Process, signum: signal.Signals) -> None:
    if process.returncode is None:
        try:
            process.send_signal(signum)
        except ProcessLookupError:  # exited just now: its wait() tells
            pass


def _how(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


async def stop_when_orphaned(run: Callable[[], Awaitable[None]], stop: Callable[[], None],
                             fd: int = 0) -> None:
    """Await ``run()``; call ``stop()`` (once) if ``fd``, the supervisor's pipe, reaches
    end-of-file first: the supervisor is gone."""

    async def watch() -> None:
        while True:
            await anyio.wait_readable(fd)
            if not os.read(fd, 4096):
                break
        log.warning("worker process pid %d: the supervisor is gone; stopping", os.getpid())
        stop()

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        await run()
        group.cancel_scope.cancel()


def worker_commands(argv: Sequence[str], *, worker_id: str | None,
                    metrics_port: int | None) -> Callable[[int, int], list[str]]:
    """``command(slot, n)`` for a ``Supervisor`` of ``asyncjobs worker`` children: ``argv``
    (the command as given, ``worker [options] -- targets``, without ``--processes``,
    ``--worker-id`` and ``--metrics-port``) run by this interpreter, plus ``--supervised``,
    the worker id ``<worker_id>-<n>`` when one was given (each child needs its own), and the
    metrics port ``metrics_port + slot`` (0 stays 0: each child picks a free port)."""
    split = list(argv).index("--")
    options, targets = list(argv[:split]), list(argv[split:])

    def command(slot: int, n: int) -> list[str]:
        extra = ["--supervised"]
        if worker_id is not None:
            extra += ["--worker-id", f"{worker_id}-{n}"]
        if metrics_port is not None:
            extra += ["--metrics-port", str(metrics_port + slot if metrics_port else 0)]
        return [sys.executable, "-m", "asyncjobs", *options, *extra, *targets]

    return command
