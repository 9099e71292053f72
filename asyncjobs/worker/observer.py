"""What a worker tells an observer (metrics, tracing) about its jobs, through one optional
object: with none, each hook costs one ``is not None`` test.

Outcomes: ``complete``, ``failed``, ``retried`` (an attempt failed and another is scheduled),
``cancelled``, ``dead`` (dead-lettered), ``fenced`` (stopped because this worker's heartbeat
may have expired; it runs again elsewhere).
"""

from __future__ import annotations

from typing import Protocol


class JobObserver(Protocol):
    def job_started(self, queue: str, task: str, waited: float | None) -> None:
        """A job started; ``waited``: seconds from enqueue to start (first attempts only)."""

    def job_finished(self, queue: str, task: str, outcome: str, duration: float | None) -> None:
        """An attempt ended with ``outcome`` after ``duration`` seconds (None for a job that
        never started: undecodable or of an unknown task, dead-lettered at once)."""

    def redis_error(self, queue: str, operation: str) -> None:
        """Redis could not be reached for ``operation`` (``fetch``, ``finish``)."""
