"""The context a task may ask for with a parameter annotated ``Context``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from .notes import REPORTED, JobNotes, Reported


@dataclass(frozen=True, kw_only=True)
class Context:
    """What a running job knows about itself, and how it reports on itself.

    ``state`` is the dict that ``@queue.on_startup`` hooks filled (shared clients, pools).
    """

    job_id: str
    task: str
    attempt: int
    queue: str
    worker_id: str
    state: dict[str, Any] = field(default_factory=dict)
    notes: JobNotes | None = field(default=None, repr=False, compare=False)
    """Where reports wait for the worker to write them (None outside a worker: reports are
    checked, then dropped)."""

    def progress(self, fraction: float, message: str | None = None) -> Reported:
        """Report how far the job is, from 0.0 to 1.0, with an optional message: seen in
        ``JobInfo.progress`` and ``progress_message``. Returns at once (the worker writes the
        last report every 0.2 s); ``await`` it or not, as suits the task."""
        notes = self.notes if self.notes is not None else JobNotes(self.job_id)
        notes.progress(fraction, message)
        return REPORTED

    def log(self, line: str) -> None:
        """Keep a line in the job's log (``queue.inspect.job_logs``): the last 1,000 lines are
        kept, as long as the job's record. Returns at once."""
        notes = self.notes if self.notes is not None else JobNotes(self.job_id)
        notes.log(line)


CallNext: TypeAlias = Callable[[], Awaitable[Any]]
"""What a middleware calls to run the rest of the chain, and at its end the task: it returns
the task's value or raises its exception."""
Middleware: TypeAlias = Callable[[Context, CallNext], Awaitable[Any]]
"""``async def mw(ctx, call_next)``: wraps every run of a queue's tasks (``Queue.middleware``)."""
