"""``retry_delay``: when a failed attempt is retried, and after how long."""

from __future__ import annotations

from asyncjobs import Retry
from asyncjobs.protocol import ErrorInfo, ErrorKind, Outcome
from asyncjobs.task import RetryPolicy
from asyncjobs.worker.executor import retry_delay

FAILED = Outcome(error=ErrorInfo(ErrorKind.ERROR, "ValueError", "boom"))
TIMED_OUT = Outcome(error=ErrorInfo(ErrorKind.TIMEOUT, "TaskTimeout", "too slow"))


def test_backoff_is_full_jitter_doubling_per_attempt_and_capped() -> None:
    policy = RetryPolicy(retries=10, backoff=1.0, backoff_max=5.0)
    for attempt, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)]:
        delays = [retry_delay(policy, attempt, FAILED, ValueError()) for _ in range(200)]
        assert all(d is not None and 0 <= d <= cap for d in delays), (attempt, delays)


def test_no_retry_once_the_retries_are_used_or_on_success() -> None:
    policy = RetryPolicy(retries=2, backoff=0.0)
    assert retry_delay(policy, 2, FAILED, ValueError()) == 0.0
    assert retry_delay(policy, 3, FAILED, ValueError()) is None
    assert retry_delay(policy, 1, Outcome(), None) is None


def test_only_the_listed_exceptions_are_retried_but_timeouts_always_are() -> None:
    policy = RetryPolicy(retries=1, backoff=0.0, on=(ConnectionError,))
    assert retry_delay(policy, 1, FAILED, ValueError()) is None
    assert retry_delay(policy, 1, FAILED, ConnectionError()) == 0.0
    assert retry_delay(policy, 1, TIMED_OUT, None) == 0.0  # the worker cancelled it: no exception


def test_raise_retry_sets_the_delay_and_is_retried_whatever_on_says() -> None:
    policy = RetryPolicy(retries=1, backoff=100.0, on=(ConnectionError,))
    assert retry_delay(policy, 1, FAILED, Retry(delay=2.5)) == 2.5
    assert retry_delay(policy, 1, FAILED, Retry(delay=-1)) == 0.0
    assert retry_delay(policy, 2, FAILED, Retry(delay=2.5)) is None
    delay = retry_delay(policy, 1, FAILED, Retry())
    assert delay is not None and 0 <= delay <= 100.0
