"""Log output of the ``asyncjobs worker`` command: the plain format, or one JSON object per line
(``--log-format json``). Only the command line configures logging, and only when the process
has not configured it already (``logging.basicConfig``), so a user's own configuration wins.

The worker's job lines carry their fields as ``extra=``: ``queue``, ``task``, ``job_id``,
``attempt``, ``duration`` (seconds) and ``outcome``; ``JsonFormatter`` adds those present to
``time``, ``level``, ``logger`` and ``message``.
"""

from __future__ import annotations

import datetime
import json
import logging

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOB_FIELDS = ("queue", "task", "job_id", "attempt", "duration", "outcome")
LOG_FORMATS = ("plain", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, the job fields the record carries, and ``exception`` (the formatted
    traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in JOB_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                document[name] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        return json.dumps(document, default=str)


def configure(level: str, log_format: str) -> None:
    """Log to stderr at ``level`` in ``log_format`` (``plain`` or ``json``), unless logging is
    configured already."""
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level, handlers=[handler])
    else:
        logging.basicConfig(level=level, format=PLAIN_FORMAT)
