"""Writes what running jobs report (``asyncjobs.notes``): every ``interval`` seconds for all of
them, one script call per job that reported (``scripts/note.lua``), and a last time when a job
ends, before its outcome is recorded. A job that reports nothing costs nothing."""

from __future__ import annotations

import logging

import anyio

from ..connection import UNREACHABLE
from ..notes import JobNotes
from ..scripts import Scripts

log: logging.Logger = logging.getLogger(__name__)

WRITE_EVERY = 0.2
"""Seconds between two writes of a running job's reports."""


class Journal:
    def __init__(self, scripts: Scripts, interval: float = WRITE_EVERY) -> None:
        self._scripts = scripts
        self._interval = interval
        self._open: dict[str, JobNotes] = {}

    def open(self, job_id: str) -> JobNotes:
        notes = self._open[job_id] = JobNotes(job_id)
        return notes

    async def close(self, notes: JobNotes) -> None:
        """Write the job's last reports; it reports nothing more (a plain task's thread left
        running past its timeout is ignored)."""
        notes.closed = True
        if self._open.get(notes.job_id) is notes:
            del self._open[notes.job_id]
        await self._write(notes)

    async def run(self) -> None:
        while True:
            await anyio.sleep(self._interval)
            for notes in list(self._open.values()):
                await self._write(notes)

    async def _write(self, notes: JobNotes) -> None:
        report = notes.take()
        if report is None:
            return
        progress, message, lines = report
        try:
            await self._scripts.note(notes.job_id, progress, message, lines)
        except UNREACHABLE as exc:
            if notes.closed:
                log.warning("job %s: its last reports were not written: %s", notes.job_id, exc)
            else:
                notes.give_back(report)
