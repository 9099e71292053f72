"""Prometheus metrics of one worker (``asyncjobs worker --metrics-port``), with the optional
extra ``metrics`` (``prometheus-client``).

``PrometheusObserver`` is the worker's ``JobObserver``: each hook updates the children of its
(queue, task) labels, looked up once and kept, so a job costs a few counter and histogram
updates. ``serve`` exposes them over HTTP on a thread of its own.

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

from collections.abc import Callable
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
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None
    return prometheus_client


class PrometheusObserver:
    """A worker's ``JobObserver`` that keeps Prometheus metrics in ``registry`` (a fresh one by
    default). ``running`` gives the number of jobs running now (``Worker.running``)."""

    def __init__(
        self, running: Callable[[], int], registry: CollectorRegistry | None = None
    ) -> None:
        prom = _client()
        self.registry: CollectorRegistry = registry or prom.CollectorRegistry()
        job = ("queue", "task")
        r = self.registry
        self._started = prom.Counter("asyncjobs_jobs_started", "Jobs started.", job, registry=r)
        self._finished = prom.Counter("asyncjobs_jobs_finished", "Attempts ended, by outcome.",
                                      (*job, "outcome"), registry=r)
        self._duration = prom.Histogram("asyncjobs_job_duration_seconds", "Run time of attempts.",
                                        job, buckets=DURATION_BUCKETS, registry=r)
        self._wait = prom.Histogram("asyncjobs_job_wait_seconds",
                                    "Time from enqueue to the first start.", job,
                                    buckets=WAIT_BUCKETS, registry=r)
        self._retries = prom.Counter("asyncjobs_job_retries", "Failed attempts retried.", job,
                                     registry=r)
        self._dead = prom.Counter("asyncjobs_dead_letters", "Jobs this worker dead-lettered.", job,
                                  registry=r)
        self._redis_errors = prom.Counter("asyncjobs_redis_errors",
                                          "Redis unreachable, by operation.",
                                          ("queue", "operation"), registry=r)
        running_gauge = prom.Gauge("asyncjobs_jobs_running", "Jobs running on this worker now.",
                                   registry=r)
        running_gauge.set_function(running)
        self._per_task: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self._per_outcome: dict[tuple[str, str, str], Any] = {}

    def _children(self, queue: str, task: str) -> tuple[Any, Any, Any]:
        children = self._per_task.get((queue, task))
        if children is None:
            children = self._per_task[queue, task] = (
                self._started.labels(queue, task), self._wait.labels(queue, task),
                self._duration.labels(queue, task))
        return children

    def job_started(self, queue: str, task: str, waited: float | None) -> None:
        started, wait, _ = self._children(queue, task)
        started.inc()
        if waited is not None:
            wait.observe(max(waited, 0.0))

    def job_finished(self, queue: str, task: str, outcome: str, duration: float | None) -> None:
        finished = self._per_outcome.get((queue, task, outcome))
        if finished is None:
            finished = self._per_outcome[queue, task, outcome] = self._finished.labels(
                queue, task, outcome)
        finished.inc()
        if duration is not None:
            self._children(queue, task)[2].observe(duration)
        if outcome == "retried":
            self._retries.labels(queue, task).inc()
        elif outcome == "dead":
            self._dead.labels(queue, task).inc()

    def redis_error(self, queue: str, operation: str) -> None:
        self._redis_errors.labels(queue, operation).inc()

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Serve ``/metrics`` on ``addr:port`` from a daemon thread."""
        _client().start_http_server(port, addr=addr, registry=self.registry)


def serve_metrics(running: Callable[[], int], port: int) -> PrometheusObserver:
    """A ``PrometheusObserver`` served on ``port`` of every interface; ``running`` gives the
    number of jobs running now (``Worker.running``)."""
    observer = PrometheusObserver(running)
    try:
        observer.serve(port)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on port {port}: {exc}") from None
    return observer
