"""Servers to break: a Redis-compatible server to SIGKILL, shut down, restart, pause, or roll
back to an earlier append-only file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import redis

from asyncjobs.server import RedisServer


class RedisProc(RedisServer):
    """A server with AOF on, to SIGKILL, shut down, restart, pause, or roll back."""

    def __init__(self, *, appendonly: bool = True, fsync: str = "everysec") -> None:
        """``fsync="always"``: every acknowledged write survives a SIGKILL of the server."""
        super().__init__(appendonly=appendonly, extra_args=("--appendfsync", fsync))

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
        """A copy of the AOF as it is now, inside the server's folder (removed with it)."""
        copy = self.dir / f"snapshot-{time.monotonic_ns()}"
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
