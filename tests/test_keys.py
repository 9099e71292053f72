"""Key names: one place, one hash tag per queue, and names that cannot escape it."""

from __future__ import annotations

import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis.crc import key_slot

from asyncjobs import ConfigError, Queue
from asyncjobs.ids import new_job_id
from asyncjobs.protocol import QueueKeys, check_job_id


def test_all_keys_of_a_queue_share_one_cluster_slot() -> None:
    keys = QueueKeys("emails")
    names = [
        keys.pending, keys.queued, keys.workers, keys.dead, keys.stats, keys.done,
        keys.job("abc"), keys.processing("w-1"), keys.heartbeat("w-1"),
    ]
    assert {key_slot(name.encode()) for name in names} == {key_slot(b"emails")}
    assert all(name.startswith("aj:{emails}:") for name in names)


@pytest.mark.parametrize("name", ["", "a{b", "a}b", "a b", "a\nb", "x" * 65, "a:b"])
def test_bad_queue_names_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError):
        Queue(name)


@pytest.mark.parametrize("job_id", ["", "a{b}", "a b", "a\n", "x" * 129])
def test_bad_job_ids_are_rejected(job_id: str) -> None:
    with pytest.raises(ConfigError):
        QueueKeys("q").job(job_id)


def test_repr_hides_the_password() -> None:
    queue = Queue("q", "redis://user:pw-CANARY-7f3@localhost:6379/0")
    assert "pw-CANARY-7f3" not in repr(queue)
    assert "user:***@localhost:6379" in repr(queue)


def test_no_pickle_marshal_eval_or_exec_in_the_package() -> None:
    import ast
    from pathlib import Path

    import asyncjobs

    banned_modules = {"pickle", "marshal", "shelve", "dill", "cloudpickle"}
    banned_calls = {"eval", "exec", "__import__"}
    for path in Path(asyncjobs.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & banned_modules, path
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in banned_modules, path
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in banned_calls, path
            elif isinstance(node, ast.Attribute) and node.attr == "import_module":
                assert path.name == "loader.py", path


def test_decoder_bombs_fail_fast_and_small() -> None:
    import time
    import tracemalloc

    import msgspec

    from asyncjobs.protocol import ENVELOPE_DECODER

    bombs = [
        b"\x94\xa3p-l\xa4work\xdd\xff\xff\xff\xff",  # array32 claiming 4 G entries
        b"\x94\xa3p-m\xa4work\xdf\xff\xff\xff\xff",  # map32 claiming 4 G entries
        b"\x94\xa3p-b\xa4work\xc6\xff\xff\xff\xff",  # bin32 claiming 4 GiB
        b"\x94\xa3p-n\xa4work" + b"\x91" * 200_000 + b"\xc0\xcb" + bytes(8),  # nesting
    ]
    for bomb in bombs:
        began = time.perf_counter()
        with pytest.raises((msgspec.DecodeError, RecursionError)):
            ENVELOPE_DECODER.decode(bomb)
        assert time.perf_counter() - began < 0.010
        tracemalloc.start()
        with pytest.raises((msgspec.DecodeError, RecursionError)):
            ENVELOPE_DECODER.decode(bomb)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 10 << 20, peak


def test_job_ids_never_repeat_across_threads_or_a_fork() -> None:
    def many(n: int = 3000) -> list[str]:
        return [new_job_id() for _ in range(n)]

    parent = many(10)  # the parent's buffer is in use when it forks
    with ThreadPoolExecutor(4) as pool:
        threads = [ids for batch in pool.map(lambda _: many(), range(4)) for ids in batch]
    read, write = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns on fork in a process with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: its ids, to the parent
        os.write(write, "\n".join(many()).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split("\n")
    os.waitpid(pid, 0)
    ids = parent + threads + child + many()
    assert len(child) == 3000 and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", job_id) for job_id in ids)
    check_job_id(ids[0])
