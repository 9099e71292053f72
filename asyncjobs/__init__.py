"""asyncjobs: a fast, reliable, typed asyncio job queue on Redis."""

import logging

from ._version import __version__
from .config import Settings
from .context import CallNext, Context, Middleware
from .errors import (
    AsyncJobsError,
    BlockingCallError,
    ConfigError,
    EnqueueError,
    JobCancelled,
    JobDeadLettered,
    JobExpired,
    JobFailed,
    JobNotFound,
    PayloadTooLarge,
    ResultTimeout,
    Retry,
    TaskArgumentError,
    TaskTimeout,
)
from .events import Event
from .inspector import Inspector, QueueCounts, WorkerInfo
from .job import Job, JobInfo, JobStatus, LogLine, SyncJob
from .limits import RateLimit
from .protocol import DeadLetter, EventKind, JobState
from .queue import Queue
from .schedule import ScheduleInfo
from .task import AsyncTask, Call, Pipeline, RetryPolicy, SyncTask, Task, TaskOptions
from .worker import Worker

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "AsyncJobsError",
    "AsyncTask",
    "BlockingCallError",
    "Call",
    "CallNext",
    "ConfigError",
    "Context",
    "DeadLetter",
    "EnqueueError",
    "Event",
    "EventKind",
    "Inspector",
    "Job",
    "JobCancelled",
    "JobDeadLettered",
    "JobExpired",
    "JobFailed",
    "JobInfo",
    "JobNotFound",
    "JobState",
    "JobStatus",
    "LogLine",
    "Middleware",
    "PayloadTooLarge",
    "Pipeline",
    "Queue",
    "QueueCounts",
    "RateLimit",
    "ResultTimeout",
    "Retry",
    "RetryPolicy",
    "ScheduleInfo",
    "Settings",
    "SyncJob",
    "SyncTask",
    "Task",
    "TaskArgumentError",
    "TaskOptions",
    "TaskTimeout",
    "Worker",
    "WorkerInfo",
    "__version__",
]
