"""Security checklist: TLS with an ACL user limited to the queue's keys, secrets never shown."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError

from asyncjobs import Queue, Settings
from asyncjobs.server import find_server_binary, free_port

from .conftest import TEST_SETTINGS, running_worker

pytestmark = pytest.mark.anyio
CANARY = "pw-CANARY-7f3"
ROOT = Path(__file__).resolve().parents[2]
ACL_RULES = [
    "on", f">{CANARY}", "~aj:*", "&aj:*", "+@list", "+@string", "+@hash", "+@set",
    "+@sortedset", "+@stream", "+@keyspace", "+@scripting", "+@connection", "+@blocking", "+@pubsub",
    "-@dangerous",
]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(folder: Path) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=asyncjobs-test-ca", cwd=folder)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1", cwd=folder)
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
            cwd=folder)


def tls_ready(port: int, ca: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    if os.environ.get("ASYNCJOBS_REDIS_URL"):
        pytest.skip("a TLS server of our own is needed; an external server is configured")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificates")
    folder = tmp_path_factory.mktemp("tls")
    make_certs(folder)
    port = free_port()
    process = subprocess.Popen(
        [find_server_binary(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "server.pem", "--tls-key-file", "server.key",
         "--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 10
    while not tls_ready(port, folder / "ca.pem"):
        if process.poll() is not None:
            output = process.communicate()[0]
            if "TLS" in output:
                pytest.skip(f"this server binary has no TLS support: {find_server_binary()}")
            raise AssertionError(output)
        assert time.monotonic() < deadline, "the TLS server did not start"
        time.sleep(0.01)
    admin = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(folder / "ca.pem"))
    admin.acl_setuser("aj", reset=True)
    admin.execute_command("ACL", "SETUSER", "aj", *ACL_RULES)
    admin.close()
    try:
        yield port, folder / "ca.pem"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def tls_url(port: int, ca: Path, password: str = CANARY) -> str:
    return f"rediss://aj:{password}@127.0.0.1:{port}/0?ssl_ca_certs={ca}"


async def test_round_trip_over_tls_as_an_acl_user_limited_to_the_queue(
    tls_server: tuple[int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    port, ca = tls_server
    caplog.set_level(logging.DEBUG)
    queue = Queue(f"tls-{uuid.uuid4().hex[:8]}", tls_url(port, ca), settings=TEST_SETTINGS)

    @queue.task(retries=1, retry_backoff=0.01)
    async def secret(token: str) -> str:
        if token == "fail-once":
            raise RuntimeError("first attempt fails")
        return token[::-1]

    async with running_worker(queue):
        assert await (await secret.delay(CANARY)).result(timeout=10) == CANARY[::-1]
        with pytest.raises(Exception):  # noqa: B017  # any failure is fine, it must not leak
            await (await secret.options(delay=0.1).delay("fail-once")).result(timeout=0.01)
    assert CANARY not in repr(queue)
    assert CANARY not in caplog.text
    assert "appendonly" not in caplog.text, "no CONFIG under this ACL: the check is skipped"
    # the user really is limited: no key outside the queue's prefix, no CONFIG
    limited = redis.Redis.from_url(tls_url(port, ca))
    with pytest.raises(redis.exceptions.NoPermissionError):
        limited.set("other:key", 1)
    with pytest.raises(redis.exceptions.NoPermissionError):
        limited.config_get("appendonly")
    limited.close()
    await queue.aclose()


def test_wrong_password_and_missing_ca_are_clear(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    with pytest.raises(AuthenticationError) as caught:
        redis.Redis.from_url(tls_url(port, ca, password="wrong-" + CANARY)).ping()
    assert CANARY not in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1
    with pytest.raises(RedisConnectionError) as no_ca:
        redis.Redis.from_url(f"rediss://aj:{CANARY}@127.0.0.1:{port}/0").ping()
    assert "CERTIFICATE_VERIFY_FAILED" in str(no_ca.value)
    assert CANARY not in str(no_ca.value)


def test_a_worker_with_an_unreachable_server_never_shows_the_password(tmp_path: Path) -> None:
    url = f"redis://user:{CANARY}@127.0.0.1:{free_port()}/0"
    env = {**os.environ, "ASYNCJOBS_REDIS_URL": url, "ASYNCJOBS_TEST_QUEUE": "canary"}
    with subprocess.Popen(
        [sys.executable, "-m", "asyncjobs", "worker", "tests.apps.app:queue", "--log-level",
         "DEBUG", "--grace", "0.5"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:
        assert proc.stderr is not None
        seen = ""
        while "cannot reach Redis at" not in seen:  # read until the worker reports the outage
            line = proc.stderr.readline()
            assert line, seen
            seen += line
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    everything = seen + out + err
    assert "user:***@127.0.0.1" in everything
    assert CANARY not in everything
    help_text = subprocess.run([sys.executable, "-m", "asyncjobs", "--help"], cwd=ROOT,
                               env=env, capture_output=True, text=True)
    assert CANARY not in help_text.stdout + help_text.stderr


def test_settings_repr_hides_the_password() -> None:
    settings = Settings(redis_url=f"redis://u:{CANARY}@h:1/0")
    assert CANARY not in repr(settings)
    assert CANARY not in repr(Queue("q", settings=settings))
