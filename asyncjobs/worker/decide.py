"""What happens to a finished attempt: one pure decision from the task's retry policy, the
attempt number and the outcome. ``Executor.step`` carries each decision out with its script.

- ``Complete``: the task returned; its result is stored.
- ``Fail``: the task failed for the last time (or with an error it is not retried on); the
  failure is stored as its outcome.
- ``RetryAt(delay)``: the job is scheduled to run again in ``delay`` seconds.
- ``DeadLetter(reason, message)``: the job cannot run at all (poison input); it goes to the
  dead-letter list and is never retried automatically.
- ``Cancelled``: the job was cancelled while it ran; it only leaves the worker's list (its
  record already says so).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import Retry
from ..protocol import ErrorKind, Outcome
from ..task import RetryPolicy


@dataclass(frozen=True, slots=True)
class Complete:
    pass


@dataclass(frozen=True, slots=True)
class Fail:
    pass


@dataclass(frozen=True, slots=True)
class RetryAt:
    delay: float
    """Seconds from now."""
    requested: bool = False
    """The task asked for it (raised ``Retry``)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Cancelled:
    pass


Disposition = Complete | Fail | RetryAt | DeadLetter | Cancelled

COMPLETE = Complete()
FAIL = Fail()
CANCELLED = Cancelled()


def decide(
    policy: RetryPolicy,
    attempt: int,
    outcome: Outcome,
    exc: BaseException | None,
    *,
    uniform: Callable[[float, float], float] = random.uniform,
) -> Disposition:
    """The disposition of attempt number ``attempt`` (1 for the first run) that ended with
    ``outcome``, raising ``exc`` if the task raised. ``uniform`` draws the backoff jitter."""
    error = outcome.error
    if error is None:
        return COMPLETE
    if error.kind is ErrorKind.DEAD:
        return DeadLetter(error.type, error.message)
    if error.kind is ErrorKind.CANCELLED:
        return CANCELLED
    if attempt > policy.retries:
        return FAIL
    if isinstance(exc, Retry) and exc.delay is not None:
        return RetryAt(max(exc.delay, 0.0), requested=True)
    requested = isinstance(exc, Retry)
    if not (requested or error.kind is ErrorKind.TIMEOUT or isinstance(exc, policy.on)):
        return FAIL
    backoff = min(policy.backoff_max, policy.backoff * 2 ** (attempt - 1))
    return RetryAt(uniform(0.0, backoff), requested=requested)
