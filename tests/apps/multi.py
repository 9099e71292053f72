"""Two queues for one subprocess worker (``asyncjobs worker tests.apps.multi:emails
tests.apps.multi:reports``), named after ``$ASYNCJOBS_TEST_QUEUE``; each execution appends
``<queue> <job id> <pid>`` to the ledger file ``$ASYNCJOBS_TEST_LEDGER``."""

from __future__ import annotations

import os

from asyncjobs import Context, Queue, Settings

SETTINGS = Settings(heartbeat_interval=0.4, heartbeat_ttl=2.0, reaper_interval=0.5)
NAME = os.environ.get("ASYNCJOBS_TEST_QUEUE", "tests")
LEDGER = os.environ.get("ASYNCJOBS_TEST_LEDGER", os.devnull)

emails = Queue(f"{NAME}-emails", settings=SETTINGS)
reports = Queue(f"{NAME}-reports", settings=SETTINGS)


def record(ctx: Context) -> None:
    fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{ctx.queue} {ctx.job_id} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


@emails.task(name="send")
async def send(ctx: Context, to: str) -> str:
    record(ctx)
    return f"sent to {to}"


@reports.task(name="build")
async def build(ctx: Context, n: int) -> int:
    record(ctx)
    return n * 10
