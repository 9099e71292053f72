"""``decide``: what happens to a finished attempt, from the policy, the attempt and the outcome.
No Redis: the function is pure (the backoff jitter is passed in)."""

from __future__ import annotations

import pytest

from asyncjobs import Retry
from asyncjobs.protocol import ErrorInfo, ErrorKind, Outcome
from asyncjobs.task import RetryPolicy
from asyncjobs.worker.decide import Complete, Fail, RetryAt, decide

OK = Outcome(value=None)
ERROR = Outcome(error=ErrorInfo(ErrorKind.ERROR, "ValueError", "bad"))
TIMEOUT = Outcome(error=ErrorInfo(ErrorKind.TIMEOUT, "TaskTimeout", "slow"))


def most(low: float, high: float) -> float:
    """Jitter that always draws the longest wait, so the backoff cap shows."""
    assert low == 0.0
    return high


def test_a_success_completes_whatever_the_policy() -> None:
    assert decide(RetryPolicy(retries=3), 1, OK, None) == Complete()
    assert decide(RetryPolicy(), 9, OK, None) == Complete()


def test_a_failure_without_retries_fails() -> None:
    assert decide(RetryPolicy(), 1, ERROR, ValueError("bad")) == Fail()


@pytest.mark.parametrize(("attempt", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0)])
def test_retries_back_off_exponentially_up_to_the_cap(attempt: int, delay: float) -> None:
    policy = RetryPolicy(retries=4, backoff=1.0, backoff_max=5.0)
    assert decide(policy, attempt, ERROR, ValueError("bad"), uniform=most) == RetryAt(delay)


def test_the_jitter_is_drawn_between_zero_and_the_backoff() -> None:
    draws: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        draws.append((low, high))
        return 0.25

    policy = RetryPolicy(retries=2, backoff=3.0)
    assert decide(policy, 2, ERROR, ValueError("bad"), uniform=record) == RetryAt(0.25)
    assert draws == [(0.0, 6.0)]


def test_the_last_attempt_fails() -> None:
    policy = RetryPolicy(retries=2)
    assert decide(policy, 3, ERROR, ValueError("bad"), uniform=most) == Fail()
    assert decide(policy, 3, ERROR, Retry(1.0)) == Fail()
    assert decide(policy, 3, TIMEOUT, None) == Fail()


def test_only_the_listed_exceptions_are_retried() -> None:
    policy = RetryPolicy(retries=2, on=(ConnectionError,))
    assert decide(policy, 1, ERROR, ValueError("bad")) == Fail()
    assert isinstance(decide(policy, 1, ERROR, ConnectionError("down")), RetryAt)


def test_timeouts_are_retried_whatever_on_lists() -> None:
    policy = RetryPolicy(retries=1, backoff=0.5, on=(ConnectionError,))
    assert decide(policy, 1, TIMEOUT, None, uniform=most) == RetryAt(0.5)


def test_a_requested_retry_uses_its_delay_or_the_backoff() -> None:
    policy = RetryPolicy(retries=1, backoff=2.0, on=(ConnectionError,))
    retry = Outcome(error=ErrorInfo(ErrorKind.ERROR, "Retry", "retry requested"))
    assert decide(policy, 1, retry, Retry(7.5)) == RetryAt(7.5, requested=True)
    assert decide(policy, 1, retry, Retry(-3)) == RetryAt(0.0, requested=True)
    assert decide(policy, 1, retry, Retry(), uniform=most) == RetryAt(2.0, requested=True)
