"""Worker processes: ``asyncjobs worker`` subprocesses to start, SIGKILL, SIGTERM and restart."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.support.chaos_app:queue"
SECOND = "tests.support.chaos_app:second"
SHARDED = "tests.support.chaos_app:sharded"


@dataclass
class WorkerProc:
    slot: int
    worker_id: str
    process: subprocess.Popen[bytes]
    log: Path
    killed: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid


class Supervisor:
    """Runs ``asyncjobs worker`` subprocesses; can SIGKILL, SIGTERM and restart them. Each
    process gets a worker id of its own, ``worker-<slot>-<n>``, and a log in ``folder``."""

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
        self.targets: tuple[str, ...] = (APP,)
        """What each worker serves; more than one target makes workers over several queues."""
        self.options: tuple[str, ...] = ()
        """More command-line options of each worker (``--balance``)."""
        self._lock = threading.Lock()
        self._watching = threading.Event()
        self._watcher: threading.Thread | None = None

    def spawn(self, slot: int, *, url: str | None = None) -> WorkerProc:
        worker_id = f"worker-{slot}-{len(self.history)}"
        log = self.folder / f"{worker_id}.err"
        env = {**self.env, "ASYNCJOBS_REDIS_URL": url or self.url}
        with log.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "asyncjobs", "worker", *self.targets, *self.options,
                 "-c", str(self.concurrency), "--grace", str(self.grace), "--log-level", "INFO",
                 "--worker-id", worker_id],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err,
            )
        worker = WorkerProc(slot, worker_id, process, log)
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
