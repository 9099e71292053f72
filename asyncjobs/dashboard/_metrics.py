"""``/metrics``: queue-wide gauges read from Redis at each scrape, in the Prometheus text format,
when ``prometheus_client`` is installed (else the dashboard has no such route)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, cast

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..protocol import ENVELOPE_DECODER, WAKE
from ..queue import Queue
from ._reads import Board

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric


async def oldest_pending_age(queue: Queue) -> float:
    """Seconds the oldest job waiting to run has waited (0 when none): the pending list's
    oldest end and the prioritized set's first entry, two reads (per shard)."""
    entries: list[bytes] = []
    for shard in queue.shard_queues:
        async with shard.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(shard.keys.pending, -2, -1)
            pipe.zrange(shard.keys.prioritized, 0, 0)
            tail, best = cast("tuple[list[bytes], list[bytes]]", await pipe.execute())
        entries += [*tail, *best]
    oldest = time.time()
    for entry in entries:
        if entry == WAKE.encode():
            continue
        try:
            oldest = min(oldest, ENVELOPE_DECODER.decode(entry).enqueued_at)
        except msgspec.DecodeError:
            continue
    return max(0.0, time.time() - oldest)


def metrics_route(board: Board) -> Callable[[Request], Awaitable[Response]] | None:
    try:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.core import GaugeMetricFamily
    except ImportError:
        return None

    class Snapshot:
        def __init__(self, families: list[Metric]) -> None:
            self.families = families

        def collect(self) -> Iterable[Metric]:
            return self.families

    async def metrics(request: Request) -> Response:
        jobs = GaugeMetricFamily("asyncjobs_jobs", "Jobs of a queue by state, now.",
                                 labels=["queue", "state"])
        workers = GaugeMetricFamily("asyncjobs_workers", "Live workers of a queue.", labels=["queue"])
        paused = GaugeMetricFamily("asyncjobs_paused", "1 while a queue is paused.", labels=["queue"])
        finished = GaugeMetricFamily("asyncjobs_finished", "Jobs of a queue finished since it was "
                                     "first used, by final state.", labels=["queue", "state"])
        age = GaugeMetricFamily("asyncjobs_oldest_pending_age_seconds",
                                "Seconds the oldest waiting job of a queue has waited.", labels=["queue"])
        for queue in await board.queues():
            c = await queue.inspect.counts()
            for state, value in (("pending", c.pending), ("scheduled", c.scheduled),
                                 ("waiting", c.waiting), ("running", c.running),
                                 ("dead", c.dead)):
                jobs.add_metric([queue.name, state], value)
            for state, value in (("complete", c.complete), ("failed", c.failed),
                                 ("cancelled", c.cancelled), ("expired", c.expired)):
                finished.add_metric([queue.name, state], value)
            workers.add_metric([queue.name], c.workers)
            paused.add_metric([queue.name], int(c.paused))
            age.add_metric([queue.name], await oldest_pending_age(queue))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Snapshot([jobs, workers, paused, finished, age]))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
