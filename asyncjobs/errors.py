"""Every exception asyncjobs raises.

::

    AsyncJobsError                      root: ``except AsyncJobsError`` catches all of ours
    ├── ConfigError (ValueError)        bad queue name or job id, duplicate task name, bad CLI target
    ├── TaskArgumentError (TypeError)   .delay(): an argument does not bind or cannot be encoded
    ├── PayloadTooLarge                 the encoded call is over max_payload_bytes; nothing was written
    ├── EnqueueError                    Redis did not take the job within enqueue_timeout
    ├── BlockingCallError (RuntimeError) a blocking *_sync call inside a running event loop
    ├── ServerError                     a throwaway server (demo, tests) could not be found or started
    │   └── ServerNotFound              no server binary: none on PATH, or $ASYNCJOBS_REDIS_SERVER is wrong
    ├── JobNotFound                     no job with that id (never enqueued, or its record expired)
    ├── ResultTimeout (TimeoutError)    job.result(timeout=...) ran out
    ├── JobFailed                       the job ended in failure; carries the remote error as data
    │   ├── TaskTimeout                 the task ran past its timeout and was cancelled
    │   ├── JobDeadLettered             the job could not run (bad payload, or it kept killing workers)
    │   ├── JobCancelled                the job was cancelled (``queue.cancel``, ``job.cancel``)
    │   └── JobExpired                  the job's ``expires`` passed before it started
    └── Retry                           raised inside a task: run it again later (never reaches callers)

Errors carry data (ids, type names, text), never rebuilt remote exception classes.
"""

from __future__ import annotations

from datetime import timedelta


class AsyncJobsError(Exception):
    """Root of every asyncjobs exception."""


class ConfigError(AsyncJobsError, ValueError):
    """A name, id, option or CLI target is not valid."""


class TaskArgumentError(AsyncJobsError, TypeError):
    """A call's arguments do not fit the task's signature or cannot be encoded."""


class PayloadTooLarge(AsyncJobsError):
    """The encoded call is larger than the queue allows."""

    def __init__(self, task: str, size: int, limit: int) -> None:
        super().__init__(f"{task}.delay(): encoded payload is {size} bytes, over the limit of {limit}")
        self.task = task
        self.size = size
        self.limit = limit


class EnqueueError(AsyncJobsError):
    """Redis did not accept the job in time; it may be retried with the same job id."""


class BlockingCallError(AsyncJobsError, RuntimeError):
    """A blocking call (``task.delay_sync``, ``queue.result_sync``, ...) was made inside a running
    event loop, which it would stall: ``await`` the asyncio method there instead."""


class ServerError(AsyncJobsError):
    """A throwaway Redis-compatible server (``asyncjobs demo``, the tests) could not be started."""


class ServerNotFound(ServerError):
    """No server binary was found, or ``$ASYNCJOBS_REDIS_SERVER`` names none."""


class JobNotFound(AsyncJobsError, LookupError):
    """No job with this id is known (never enqueued, or its record has expired)."""


class ResultTimeout(AsyncJobsError, TimeoutError):
    """Waiting for a job's result ran out of time; the job itself goes on."""


class JobFailed(AsyncJobsError):
    """A job ended in failure.

    ``exc_type``, ``message`` and ``traceback`` describe the remote error as text.
    """

    def __init__(self, job_id: str, exc_type: str, message: str, traceback: str = "") -> None:
        super().__init__(f"job {job_id} failed: {exc_type}: {message}")
        self.job_id = job_id
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback


class TaskTimeout(JobFailed):
    """The task ran longer than its timeout and was cancelled."""


class JobDeadLettered(JobFailed):
    """The job could not run (bad payload, unknown task, bad arguments, or it kept killing its
    workers) and was dead-lettered."""


class JobCancelled(JobFailed):
    """The job was cancelled before it finished."""


class JobExpired(JobFailed):
    """The job's ``expires`` time passed before it started, so it never ran."""


class Retry(AsyncJobsError):
    """Raise inside a task to run it again after ``delay`` seconds (or the task's backoff).

    Each retry uses one of the task's ``retries``; when none is left the job fails.
    """

    def __init__(self, delay: float | timedelta | None = None) -> None:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
        super().__init__(f"retry requested (delay {seconds} s)")
        self.delay = seconds


def check_replicas(queue: str, wanted: int, timeout: float, confirmed: int) -> None:
    """Raises ``EnqueueError`` when fewer than ``wanted`` replicas confirmed an enqueue."""
    if confirmed < wanted:
        raise EnqueueError(
            f"queue {queue!r}: {confirmed} of {wanted} replica(s) confirmed the job(s) within "
            f"{timeout} s (enqueue_replicas, replica_timeout): they are on the master and may "
            "be lost if it fails now; enqueueing them again with the same job_id is safe")
