"""What a running job reports about itself (``Context.progress``, ``Context.log``), held until
the worker writes it (``worker/journal.py``): a task never waits on Redis to report."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Generator
from typing import Any

from .protocol import LOG_LINES_KEPT, encode_log_line

Report = tuple[float | None, str, list[str]]
"""What a job reported since it was last written: its last progress (None: none new), that
progress's message, and its new log lines (encoded)."""


class Reported:
    """Returned by ``Context.progress``: awaiting it is optional (it waits for nothing), so an
    ``async`` task writes ``await ctx.progress(...)`` and a plain one ``ctx.progress(...)``."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        yield from ()


REPORTED = Reported()


class JobNotes:
    """One running job's reports not written yet. Safe from any thread: a plain task reports
    from the thread it runs in. Bounded: only the last ``LOG_LINES_KEPT`` lines wait."""

    __slots__ = ("_lines", "_lock", "_message", "_progress", "closed", "job_id")

    def __init__(self, job_id: str) -> None:
        self.job_id: str = job_id
        self.closed: bool = False
        self._lock = threading.Lock()
        self._progress: float | None = None
        self._message = ""
        self._lines: deque[str] = deque(maxlen=LOG_LINES_KEPT)

    def progress(self, fraction: float, message: str | None = None) -> None:
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) \
                or not math.isfinite(fraction) or not 0.0 <= fraction <= 1.0:
            raise ValueError(f"progress must be a number from 0.0 to 1.0, not {fraction!r}")
        if message is not None and not isinstance(message, str):
            raise TypeError(f"a progress message must be a str, not {type(message).__name__}")
        with self._lock:
            if not self.closed:
                self._progress, self._message = float(fraction), message or ""

    def log(self, line: str) -> None:
        if not isinstance(line, str):
            raise TypeError(f"a log line must be a str, not {type(line).__name__}")
        encoded = encode_log_line(time.time(), line)
        with self._lock:
            if not self.closed:
                self._lines.append(encoded)

    def take(self) -> Report | None:
        """What waits to be written, now taken; None when nothing does."""
        with self._lock:
            if self._progress is None and not self._lines:
                return None
            report = (self._progress, self._message, list(self._lines))
            self._progress, self._message = None, ""
            self._lines.clear()
            return report

    def give_back(self, report: Report) -> None:
        """Put back a report that could not be written (newer progress and lines win)."""
        progress, message, lines = report
        with self._lock:
            if self._progress is None and progress is not None:
                self._progress, self._message = progress, message
            newer = list(self._lines)
            self._lines.clear()
            self._lines.extend(lines + newer)  # the deque keeps the last LOG_LINES_KEPT
