"""Job ids: unique across threads and a fork, and valid as key parts."""

from __future__ import annotations

import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor

from asyncjobs.ids import new_job_id
from asyncjobs.protocol import check_job_id


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


def test_no_job_id_starts_with_a_dash() -> None:
    ids = [new_job_id() for _ in range(20_000)]  # about 300 would, 1 in 64
    assert not [job_id for job_id in ids if job_id.startswith("-")]
    assert sum(job_id.startswith("_") for job_id in ids) > 100, "a leading - became _"
    assert all(len(job_id) == 22 for job_id in ids)
