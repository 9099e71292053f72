"""The chaos harness: real servers to kill and restart, worker processes to kill, a ledger of
every execution, a TCP fault proxy, and the invariant checker."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from asyncjobs import Queue
from asyncjobs.server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.chaos.app:queue"


class RedisProc(RedisServer):
    """A server with AOF on, to SIGKILL, shut down, restart, pause, or roll back."""

    def __init__(self, *, appendonly: bool = True) -> None:
        super().__init__(appendonly=appendonly, extra_args=("--appendfsync", "everysec"))

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def kill9(self) -> None:
        self.kill()

    def shutdown(self) -> None:
        """SHUTDOWN NOSAVE: a graceful stop that still flushes the AOF."""
        assert self.process is not None
        try:
            self.client().shutdown(nosave=True)
        except redis.ConnectionError:
            pass
        self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.start()

    def snapshot_dir(self) -> Path:
        copy = Path(f"{self.dir}-snapshot-{time.monotonic_ns()}")
        shutil.copytree(self.dir / "appendonlydir", copy)
        return copy

    def restart_from(self, snapshot: Path) -> None:
        shutil.rmtree(self.dir / "appendonlydir")
        shutil.copytree(snapshot, self.dir / "appendonlydir")
        self.start()

    def pause(self, ms: int) -> None:
        self.client().execute_command("CLIENT", "PAUSE", ms, "ALL")

    def drop_clients(self) -> None:
        self.client().execute_command("CLIENT", "KILL", "TYPE", "normal")


@dataclass
class WorkerProc:
    slot: int
    process: subprocess.Popen[bytes]
    log: Path
    killed: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid


class Supervisor:
    """Runs ``asyncjobs worker`` subprocesses; can SIGKILL, SIGTERM and restart them."""

    def __init__(self, env: dict[str, str], folder: Path, *, concurrency: int = 20,
                 grace: float = 2.0, url: str | None = None) -> None:
        self.env = env
        self.folder = folder
        self.concurrency = concurrency
        self.grace = grace
        self.url = url or env["ASYNCJOBS_REDIS_URL"]
        self.workers: dict[int, WorkerProc] = {}
        self.history: list[WorkerProc] = []
        self.auto_restart = False
        self._lock = threading.Lock()
        self._watching = threading.Event()
        self._watcher: threading.Thread | None = None

    def spawn(self, slot: int, *, url: str | None = None) -> WorkerProc:
        log = self.folder / f"worker-{slot}-{len(self.history)}.err"
        env = {**self.env, "ASYNCJOBS_REDIS_URL": url or self.url}
        with log.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "asyncjobs", "worker", APP, "-c", str(self.concurrency),
                 "--grace", str(self.grace), "--log-level", "INFO"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err,
            )
        worker = WorkerProc(slot, process, log)
        with self._lock:
            self.workers[slot] = worker
            self.history.append(worker)
        return worker

    def start(self, n: int) -> None:
        for slot in range(n):
            self.spawn(slot)

    def kill9(self, slot: int) -> int:
        worker = self.workers[slot]
        worker.killed = True
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait()
        return worker.pid

    def term(self, slot: int) -> WorkerProc:
        worker = self.workers[slot]
        worker.killed = True
        worker.process.send_signal(signal.SIGTERM)
        return worker

    def restart(self, slot: int) -> WorkerProc:
        return self.spawn(slot)

    def watch(self) -> None:
        """Restart any worker that dies by itself (a task that kills its process)."""
        self.auto_restart = True
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._watching.wait(0.02):
            with self._lock:
                dead = [w for w in self.workers.values()
                        if w.process.poll() is not None and not w.killed]
            for worker in dead:
                worker.killed = True
                self.spawn(worker.slot)

    def stop_all(self, timeout: float = 20.0) -> list[int | None]:
        self._watching.set()
        if self._watcher is not None:
            self._watcher.join()
        for worker in self.workers.values():
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        codes = []
        for worker in self.workers.values():
            try:
                codes.append(worker.process.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                codes.append(worker.process.wait())
        return codes

    def stderr(self) -> str:
        return "\n".join(f"--- {w.log.name} (pid {w.pid}, rc {w.process.poll()})\n"
                         + w.log.read_text(errors="replace")[-3000:] for w in self.history)


@dataclass
class Ledger:
    starts: dict[str, list[tuple[int, int, float]]] = field(default_factory=lambda: defaultdict(list))
    ends: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def read(cls, folder: Path) -> Ledger:
        ledger = cls()
        for path in folder.glob("*.log"):
            for line in path.read_text().splitlines():
                parts = line.split()
                if parts[0] == "S" and len(parts) == 5:
                    ledger.starts[parts[1]].append((int(parts[2]), int(parts[3]), float(parts[4])))
                elif parts[0] == "E" and len(parts) == 4:
                    ledger.ends[parts[1]].append((int(parts[2]), float(parts[3])))
        return ledger

    def started(self) -> int:
        return sum(len(v) for v in self.starts.values())

    def completed(self) -> int:
        return sum(len(v) for v in self.ends.values())

    def in_flight(self, pid: int) -> set[str]:
        """Jobs that pid started and did not end (what it held when it died)."""
        return {
            job for job, runs in self.starts.items()
            for p, _, _ in runs if p == pid and not any(ep == pid for ep, _ in self.ends.get(job, ()))
        }

    def overlaps_within_a_process(self) -> int:
        """Runs of one job in one process that overlapped in time (a run's end is the first
        end after its start)."""
        count = 0
        for job, runs in self.starts.items():
            for pid in {p for p, _, _ in runs}:
                starts = sorted(t for p, _, t in runs if p == pid)
                ends = sorted(t for p, t in self.ends.get(job, ()) if p == pid)
                count += sum(1 for later, end in zip(starts[1:], ends, strict=False) if later < end)
        return count

    def overlaps(self) -> int:
        """Pairs of completed runs of one job on two processes that overlapped in time."""
        count = 0
        for job, ends in self.ends.items():
            runs = []
            for pid, end in ends:
                begin = max((t for p, _, t in self.starts[job] if p == pid and t <= end), default=end)
                runs.append((begin, end, pid))
            runs.sort()
            for (_, e1, p1), (b2, _, p2) in zip(runs, runs[1:], strict=False):
                if p1 != p2 and b2 < e1:
                    count += 1
        return count


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(pred: Callable[[], Any], timeout: float, what: str,
                     dump: Callable[[], Any] | None = None) -> None:
    """Poll pred (sync or async) every 20 ms until true; on the deadline fail with ``dump()``
    (sync or async: what each list holds, the workers' stderr)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            text = dump() if dump else ""
            if asyncio.iscoroutine(text):
                text = await text
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{text}")
        await asyncio.sleep(0.02)


KEY_FAMILIES = re.compile(
    r"aj:\{[^}]+\}:(pending|scheduled|dead|stats|workers|job:[A-Za-z0-9_.:\-]+"
    r"|processing:[A-Za-z0-9_.\-]+|hb:[A-Za-z0-9_.\-]+)"
)


@dataclass
class Invariants:
    ids: int
    results: int
    failed: int
    dead: int
    duplicate_completions: int
    executions: int
    completed_runs: int
    overlaps: int


async def dump(queue: Queue, supervisor: Supervisor | None = None) -> str:
    r = queue.redis
    lines = [f"pending={await r.llen(queue.keys.pending)}"
             f" scheduled={await r.zcard(queue.keys.scheduled)}"
             f" dead={await r.llen(queue.keys.dead)} stats={await queue.stats()}"]
    lines += [f"{key!r}: {await r.llen(key)} entries"
              async for key in r.scan_iter(match=f"{queue.keys.base}:processing:*")]
    lines.append(f"workers={await r.zrange(queue.keys.workers, 0, -1)}")
    if supervisor is not None:
        lines.append(supervisor.stderr())
    return "\n".join(lines)


async def _registered_at_most(queue: Queue, n: int) -> bool:
    return int(await queue.redis.zcard(queue.keys.workers)) <= n


async def _drained(queue: Queue) -> bool:
    r = queue.redis
    if await r.llen(queue.keys.pending) or await r.zcard(queue.keys.scheduled):
        return False
    async for key in r.scan_iter(match=f"{queue.keys.base}:processing:*"):
        if await r.llen(key):
            return False
    return True


async def _outcomes(queue: Queue, ids: list[str]) -> tuple[Counter[bytes], list[str]]:
    """How many jobs ended in each state, and the ids with no outcome at all."""
    states: Counter[bytes] = Counter()
    missing = []
    for start in range(0, len(ids), 1000):
        batch = ids[start:start + 1000]
        async with queue.redis.pipeline(transaction=False) as pipe:
            for job_id in batch:
                pipe.hmget(queue.keys.job(job_id), ["r", "s"])
            replies = await pipe.execute()
        for job_id, (outcome, state) in zip(batch, replies, strict=True):
            if outcome is None:
                missing.append(job_id)
            else:
                states[state] += 1
    return states, missing


async def check_invariants(
    queue: Queue,
    ids: list[str],
    ledger_dir: Path,
    *,
    max_duplicates: int = 0,
    dead_expected: dict[str, str] | None = None,
    live_workers: int = 0,
    drained_within: float = 10.0,
    supervisor: Supervisor | None = None,
) -> Invariants:
    """Assert I1 to I7 of the reliability contract over ``ids``; returns the counts."""
    r = queue.redis
    dead_expected = dead_expected or {}
    # I4: queue, schedule and processing lists empty
    await wait_until(lambda: _drained(queue), drained_within, "the queue to drain",
                     lambda: dump(queue, supervisor))
    states, missing = await _outcomes(queue, ids)
    # I1: every job reached a terminal state
    assert not missing, (
        f"{len(missing)} jobs have no outcome, e.g. {missing[:5]}\n" + await dump(queue, supervisor)
    )
    stats = await queue.stats()
    # I2: outcomes stored exactly once per id
    assert stats.get("complete", 0) + stats.get("failed", 0) + stats.get("dead", 0) == len(ids), stats
    # I3: duplicates within the bound
    duplicates = stats.get("duplicate_completions", 0)
    assert duplicates <= max_duplicates, f"{duplicates} duplicate completions > {max_duplicates}"
    # I5: the dead letters are exactly the expected ones
    letters = await queue.dead_letters(limit=100_000)
    assert {d.job_id: d.reason for d in letters if d.job_id} == dead_expected or (
        not dead_expected and not letters), [(d.job_id, d.reason) for d in letters]
    # I4 (registry): within N only live workers are registered
    await wait_until(lambda: _registered_at_most(queue, live_workers), 5, "dead workers reaped",
                     lambda: dump(queue, supervisor))
    # I7: every key belongs to a known family
    async for key in r.scan_iter(match=f"{queue.keys.base}:*"):
        assert KEY_FAMILIES.fullmatch(key.decode()), key
    ledger = Ledger.read(ledger_dir)
    result = Invariants(
        ids=len(ids), results=states[b"complete"], failed=states[b"failed"], dead=states[b"dead"],
        duplicate_completions=duplicates, executions=ledger.started(),
        completed_runs=ledger.completed(), overlaps=ledger.overlaps(),
    )
    print(f"invariants hold: {result}")  # the figures, for -s runs
    return result


class FaultProxy:
    """A TCP relay on 127.0.0.1 in its own thread and event loop, between some clients and the
    server. Only clients pointed at it see its faults, which gives one-sided partitions.

    Modes, set from the test: ``stall(seconds)`` keeps sockets open but relays nothing;
    ``latency(ms)`` delays every chunk; ``cut_replies(marker, times)`` lets a command containing
    ``marker`` reach the server, then drops its reply and closes the connection;
    ``delay_requests(marker, seconds, times)`` holds a command containing ``marker`` for
    ``seconds`` before it reaches the server (the client gives up meanwhile: a late copy).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._stalled_until = 0.0
        self._latency = 0.0
        self._cut_marker: bytes | None = None
        self._cuts_left = 0
        self.cuts_done = 0
        self._delay_marker: bytes | None = None
        self._delay = 0.0
        self._delays_left = 0
        self.delays_done = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.base_events.Server | None = None
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stall(self, seconds: float) -> None:
        self._stalled_until = time.monotonic() + seconds

    def latency(self, ms: float) -> None:
        self._latency = ms / 1000

    def cut_replies(self, marker: bytes, times: int) -> None:
        self._cut_marker, self._cuts_left = marker, times

    def delay_requests(self, marker: bytes, seconds: float, times: int) -> None:
        self._delay_marker, self._delay, self._delays_left = marker, seconds, times

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if tasks:  # closed sockets end the relays; cancel only what is still stuck
            _, stuck = await asyncio.wait(tasks, timeout=2)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        ready.set()
        self._loop.run_forever()

    async def _gate(self) -> None:
        while time.monotonic() < self._stalled_until:  # noqa: ASYNC110  # the stall is timed
            await asyncio.sleep(0.01)
        if self._latency:
            await asyncio.sleep(self._latency)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.add(client_w)
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            self._writers.discard(client_w)
            return
        self._writers.add(server_w)
        armed = [False]

        async def upstream() -> None:
            while data := await client_r.read(65536):
                if self._delay_marker and self._delays_left > 0 and self._delay_marker in data:
                    self._delays_left -= 1
                    await asyncio.sleep(self._delay)
                    self.delays_done += 1
                elif self._cut_marker and self._cuts_left > 0 and self._cut_marker in data:
                    armed[0] = True
                await self._gate()
                server_w.write(data)
                await server_w.drain()

        async def downstream() -> None:
            while data := await server_r.read(65536):
                await self._gate()
                if armed[0]:
                    self._cuts_left -= 1
                    self.cuts_done += 1
                    return  # the reply is lost: close both ends
                client_w.write(data)
                await client_w.drain()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in (client_w, server_w):
                writer.close()
                self._writers.discard(writer)
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
