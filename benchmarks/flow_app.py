"""The app ``benchmarks.flow`` runs: no-op tasks with and without flow control."""

from __future__ import annotations

import os
import time
from typing import Any

from asyncjobs import Queue, Task

queue = Queue("flow-bench", os.environ["BENCH_REDIS_URL"])
RATES = (20, 50, 500, 5000)


@queue.task(name="noop")
async def noop() -> float:
    return time.time()


@queue.task(name="keyed", key_concurrency=1)
async def keyed() -> float:
    return time.time()


def _rated(rate: int) -> Task[[], None]:
    async def rated() -> None:
        return None

    return queue.task(name=f"rated-{rate}", rate_limit=f"{rate}/s")(rated)


_RATED: dict[int, Task[[], None]] = {rate: _rated(rate) for rate in RATES}


def rated(rate: int) -> Task[[], Any]:
    """The task limited to ``rate`` starts a second (one of ``RATES``)."""
    return _RATED[rate]
