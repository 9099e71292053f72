"""The public surface: exactly these names, each importable from the package root."""

from __future__ import annotations

import asyncjobs

PUBLIC = {
    "AsyncJobsError", "AsyncTask", "BlockingCallError", "Call", "CallNext", "ConfigError",
    "Context",
    "DeadLetter", "EnqueueError", "Event", "EventKind", "Inspector", "Job", "JobCancelled", "JobDeadLettered",
    "JobExpired", "JobFailed", "JobInfo", "JobNotFound", "JobState", "JobStatus", "LogLine",
    "Middleware",
    "PayloadTooLarge", "Pipeline", "Queue", "QueueCounts", "RateLimit", "ResultTimeout", "Retry",
    "RetryPolicy", "ScheduleInfo", "Settings", "SyncJob", "SyncTask", "Task",
    "TaskArgumentError", "TaskOptions", "TaskTimeout", "Worker", "WorkerInfo", "__version__",
}


def test_all_is_pinned() -> None:
    assert set(asyncjobs.__all__) == PUBLIC
    assert asyncjobs.__all__ == sorted(asyncjobs.__all__)


def test_every_public_name_is_defined() -> None:
    for name in asyncjobs.__all__:
        assert getattr(asyncjobs, name) is not None, name


def test_job_status_is_the_job_state_enum() -> None:
    assert asyncjobs.JobStatus is asyncjobs.JobState
