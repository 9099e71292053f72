"""Servers to break: a Redis-compatible server to SIGKILL, shut down, restart, pause, or roll
back to an earlier append-only file."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
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


class SentinelSet:
    """A master, its replica and three sentinels on loopback, the sentinels agreeing (quorum 2)
    that the master is down 1 s after it stops answering."""

    def __init__(self, service: str = "mymaster") -> None:
        self.service = service
        args = ("--repl-diskless-sync-delay", "0")
        self.master = RedisServer(extra_args=args)
        self.replica = RedisServer(extra_args=args)
        self.sentinels = [RedisServer(binary=self.master.binary) for _ in range(3)]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def start(self, timeout: float = 30.0) -> SentinelSet:
        deadline = time.monotonic() + timeout
        try:
            self.master.start()
            self.replica.start()
            with redis.Redis(port=self.replica.port, socket_timeout=5) as replica:
                replica.replicaof("127.0.0.1", self.master.port)
                _until(deadline, lambda: replica.info("replication").get(
                    "master_link_status") == "up")
            for sentinel in self.sentinels:
                conf = sentinel.dir / "sentinel.conf"
                conf.write_text(
                    f"port {sentinel.port}\nbind 127.0.0.1\ndir {sentinel.dir}\n"
                    "logfile server.log\n"
                    f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} 2\n"
                    f"sentinel down-after-milliseconds {self.service} 1000\n"
                    f"sentinel failover-timeout {self.service} 10000\n"
                )
                sentinel.args = [sentinel.binary, str(conf), "--sentinel"]
                sentinel.start()
            for sentinel in self.sentinels:
                with redis.Redis(port=sentinel.port, socket_timeout=5) as client:
                    _until(deadline, lambda c=client: _sentinel_ready(c, self.service))
        except BaseException:
            self.cleanup()
            raise
        return self

    def current_master(self) -> int:
        """The port of the master the sentinels name now."""
        with redis.Redis(port=self.sentinels[0].port, socket_timeout=5) as client:
            _, port = client.sentinel_get_master_addr_by_name(self.service)
        return int(port)

    def cleanup(self) -> None:
        for server in (*self.sentinels, self.master, self.replica):
            server.cleanup()


def _sentinel_ready(client: redis.Redis, service: str) -> bool:
    """The sentinel knows the replica and both other sentinels."""
    try:
        state = client.sentinel_master(service)
    except redis.ResponseError:
        return False
    return int(state.get("num-slaves", 0)) >= 1 and int(state.get("num-other-sentinels", 0)) >= 2


def _until(deadline: float, ready: Callable[[], object]) -> None:
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError("the sentinel set did not come up in time")
        time.sleep(0.02)
