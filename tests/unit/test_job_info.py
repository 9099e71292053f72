"""``JobInfo`` read from a job's record or from its queued-hash entry."""

from __future__ import annotations

from asyncjobs import JobStatus
from asyncjobs.job import JobInfo
from asyncjobs.protocol import ENCODER, ErrorInfo, ErrorKind, Outcome, decode_queued


def test_a_failed_record_reports_its_times_attempts_and_error() -> None:
    outcome = ENCODER.encode(Outcome(error=ErrorInfo(ErrorKind.ERROR, "ValueError", "boom")))
    record = {b"t": b"send", b"s": b"failed", b"a": b"3", b"e": b"1.5", b"st": b"2.5",
              b"f": b"3.5", b"r": outcome}
    assert JobInfo.from_record("j1", record) == JobInfo(
        id="j1", task="send", status=JobStatus.FAILED, attempts=3, enqueued_at=1.5,
        started_at=2.5, finished_at=3.5, error="ValueError: boom",
    )


def test_a_record_with_an_outcome_and_no_state_is_complete() -> None:
    info = JobInfo.from_record("j2", {b"t": b"send", b"a": b"1", b"r": ENCODER.encode(Outcome())})
    assert info.status is JobStatus.COMPLETE and info.error is None


def test_a_job_waiting_for_its_retry_shows_the_last_error() -> None:
    record = {b"t": b"send", b"s": b"scheduled", b"a": b"1", b"le": b"ConnectionError: reset"}
    info = JobInfo.from_record("j3", record)
    assert info.status is JobStatus.SCHEDULED and info.error == "ConnectionError: reset"
    assert info.finished_at is None


def test_a_record_with_nothing_yet_is_queued() -> None:
    info = JobInfo.from_record("j4", {b"t": b"send"})
    assert (info.status, info.attempts, info.enqueued_at) == (JobStatus.QUEUED, 0, None)


def test_queued_entries_give_the_state_time_and_task() -> None:
    queued = JobInfo.from_queued("j5", decode_queued(b"q1700000000.25 emails.send"))
    assert (queued.status, queued.enqueued_at, queued.task) == (
        JobStatus.QUEUED, 1700000000.25, "emails.send")
    scheduled = JobInfo.from_queued("j6", decode_queued(b"s12.5 send"))
    assert (scheduled.status, scheduled.enqueued_at, scheduled.attempts) == (JobStatus.SCHEDULED, 12.5, 0)
