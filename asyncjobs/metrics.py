"""Prometheus metrics of one worker (``asyncjobs worker --metrics-port``), with the optional
extra ``metrics`` (``prometheus-client``).

``PrometheusObserver`` is the worker's ``JobObserver``: each hook adds to plain counters of its
(queue, task), turned into metric families only when scraped, so a job costs a few additions.
``serve`` exposes them over HTTP on a thread of its own.

==========================================  =========  ==============================
metric                                      type       labels
==========================================  =========  ==============================
``asyncjobs_jobs_started_total``            counter    queue, task
``asyncjobs_jobs_finished_total``           counter    queue, task, outcome
``asyncjobs_job_duration_seconds``          histogram  queue, task (run time)
``asyncjobs_job_wait_seconds``              histogram  queue, task (enqueue to start)
``asyncjobs_jobs_running``                  gauge      (this worker)
``asyncjobs_job_retries_total``             counter    queue, task
``asyncjobs_dead_letters_total``            counter    queue, task
``asyncjobs_redis_errors_total``            counter    queue, operation
==========================================  =========  ==============================

Outcomes: complete, failed, retried, cancelled, dead, fenced (see ``worker.observer``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MISSING_EXTRA = ("--metrics-port needs prometheus-client: "
                 "pip install 'asyncjobs-redis[metrics]'")
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    60.0, 300.0)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 3600.0)


def _client() -> Any:
    try:
        import prometheus_client
        import prometheus_client.metrics_core
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None
    return prometheus_client


class _Histogram:
    """Bucket counts (the last one past every bound) and the sum of what was observed."""

    __slots__ = ("counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0


class _TaskStats:
    __slots__ = ("duration", "outcomes", "started", "wait")

    def __init__(self) -> None:
        self.started = 0
        self.outcomes: dict[str, int] = {}
        self.duration = _Histogram(DURATION_BUCKETS)
        self.wait = _Histogram(WAIT_BUCKETS)


class PrometheusObserver:
    """A worker's ``JobObserver`` that keeps Prometheus metrics, registered in ``registry`` (a
    fresh one by default). ``running`` gives the number of jobs running now
    (``Worker.running``).

    The hooks only add to plain counters of the job's (queue, task), with no lock: they run on
    the worker's event loop, one at a time. A scrape (on the HTTP server's thread) reads them
    into metric families; a scrape in the middle of a hook may see one job counted in one
    metric and not yet in the next.
    """

    def __init__(
        self, running: Callable[[], int], registry: CollectorRegistry | None = None
    ) -> None:
        prom = _client()
        self._prom = prom
        self._running = running
        self._tasks: dict[tuple[str, str], _TaskStats] = {}
        self._redis_errors: dict[tuple[str, str], int] = {}
        self.registry: CollectorRegistry = registry or prom.CollectorRegistry()
        self.registry.register(self)

    def _stats(self, queue: str, task: str) -> _TaskStats:
        stats = self._tasks.get((queue, task))
        if stats is None:
            stats = self._tasks[queue, task] = _TaskStats()
        return stats

    def job_started(self, queue: str, task: str, waited: float | None) -> None:
        stats = self._stats(queue, task)
        stats.started += 1
        if waited is not None:
            waited = max(waited, 0.0)  # clocks of two hosts
            wait = stats.wait
            wait.counts[bisect_left(WAIT_BUCKETS, waited)] += 1
            wait.total += waited

    def job_finished(self, queue: str, task: str, outcome: str, duration: float | None) -> None:
        stats = self._stats(queue, task)
        stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
        if duration is not None:
            hist = stats.duration
            hist.counts[bisect_left(DURATION_BUCKETS, duration)] += 1
            hist.total += duration

    def redis_error(self, queue: str, operation: str) -> None:
        key = (queue, operation)
        self._redis_errors[key] = self._redis_errors.get(key, 0) + 1

    def collect(self) -> Iterator[Any]:
        """The metric families, for the registry (``prometheus_client`` collector API)."""
        core = self._prom.metrics_core
        job = ["queue", "task"]
        started = core.CounterMetricFamily("asyncjobs_jobs_started", "Jobs started.", labels=job)
        finished = core.CounterMetricFamily("asyncjobs_jobs_finished",
                                            "Attempts ended, by outcome.", labels=[*job, "outcome"])
        retries = core.CounterMetricFamily("asyncjobs_job_retries", "Failed attempts retried.",
                                           labels=job)
        dead = core.CounterMetricFamily("asyncjobs_dead_letters",
                                        "Jobs this worker dead-lettered.", labels=job)
        duration = core.HistogramMetricFamily("asyncjobs_job_duration_seconds",
                                              "Run time of attempts.", labels=job)
        wait = core.HistogramMetricFamily("asyncjobs_job_wait_seconds",
                                          "Time from enqueue to the first start.", labels=job)
        for (queue, task), stats in list(self._tasks.items()):
            names = [queue, task]
            started.add_metric(names, stats.started)
            outcomes = dict(stats.outcomes)
            for outcome, count in outcomes.items():
                finished.add_metric([*names, outcome], count)
            retries.add_metric(names, outcomes.get("retried", 0))
            dead.add_metric(names, outcomes.get("dead", 0))
            duration.add_metric(names, *_buckets(stats.duration, DURATION_BUCKETS))
            wait.add_metric(names, *_buckets(stats.wait, WAIT_BUCKETS))
        errors = core.CounterMetricFamily("asyncjobs_redis_errors",
                                          "Redis unreachable, by operation.",
                                          labels=["queue", "operation"])
        for (queue, operation), count in list(self._redis_errors.items()):
            errors.add_metric([queue, operation], count)
        running = core.GaugeMetricFamily("asyncjobs_jobs_running",
                                         "Jobs running on this worker now.")
        running.add_metric([], self._running())
        yield from (started, finished, duration, wait, running, retries, dead, errors)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Serve ``/metrics`` on ``addr:port`` from a daemon thread."""
        self._prom.start_http_server(port, addr=addr, registry=self.registry)


def _buckets(hist: _Histogram, bounds: tuple[float, ...]) -> tuple[list[tuple[str, float]], float]:
    """Cumulative buckets (``le`` label, count), the last ``+Inf``, and the sum."""
    counts = list(hist.counts)
    cumulative: list[tuple[str, float]] = []
    seen = 0
    for bound, count in zip((*[repr(float(b)) for b in bounds], "+Inf"), counts, strict=True):
        seen += count
        cumulative.append((bound, seen))
    return cumulative, hist.total


def serve_metrics(running: Callable[[], int], port: int) -> PrometheusObserver:
    """A ``PrometheusObserver`` served on ``port`` of every interface; ``running`` gives the
    number of jobs running now (``Worker.running``)."""
    observer = PrometheusObserver(running)
    try:
        observer.serve(port)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on port {port}: {exc}") from None
    return observer
