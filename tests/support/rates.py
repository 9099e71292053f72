"""Reading a rate limit's starts back: when the limiter let each job start, and the most starts
in any window of a given length."""

from __future__ import annotations

from asyncjobs import Queue
from asyncjobs.protocol import Field


async def started_at(queue: Queue, ids: list[str]) -> list[float]:
    """The start times recorded in the records of those of the jobs that started (the time the
    limiter let each start, by the clock it reads), in order."""
    async with queue.redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(queue.keys.job(job_id), Field.STARTED_AT)
        stamps = await pipe.execute()
    return sorted(float(stamp) for stamp in stamps if stamp is not None)


def most_in_a_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    most = first = 0
    for last, t in enumerate(times):
        while t - times[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most
