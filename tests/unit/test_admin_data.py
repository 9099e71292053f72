"""The plain data of the operator's commands: decoded values, the jobs/s estimate, JSON logs."""

from __future__ import annotations

import datetime
import json
import logging
import sys

import msgspec

from asyncjobs.admin import per_second, plain
from asyncjobs.inspector import MinuteCounts
from asyncjobs.logs import JsonFormatter


def test_plain_values_are_json_able() -> None:
    at = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    raw = msgspec.msgpack.encode([b"\x00\xff", {"k": at}, msgspec.msgpack.Ext(5, b"ab"), 1.5, None])
    value = plain(msgspec.msgpack.decode(raw))
    assert value == [{"base64": "AP8="}, {"k": "2026-01-02T03:04:05+00:00"},
                     {"ext": 5, "base64": "YWI="}, 1.5, None]
    json.dumps(value)


def test_jobs_per_second_weighs_the_previous_minute_by_its_part_in_the_last_60_s() -> None:
    previous = MinuteCounts(at=60.0, complete=60, failed=0, cancelled=0)
    current = MinuteCounts(at=120.0, complete=30, failed=6, cancelled=0)
    assert per_second([previous, current], now=150.0) == round((36 + 60 * 0.5) / 60, 3)
    assert per_second([previous, current], now=120.0) == round((36 + 60) / 60, 3)
    assert per_second([], now=0.0) == 0.0
    dead = MinuteCounts(at=120.0, complete=0, failed=0, cancelled=3, dead=3)
    assert per_second([dead], now=150.0) == 0.1, "dead letters and cancellations count"


def test_json_lines_carry_the_standard_and_the_job_fields() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("asyncjobs.worker.executor", logging.INFO, __file__, 1,
                               "job %s done", ("abc",), None)
    record.__dict__.update(queue="q", job_id="abc", attempt=2, duration=0.25, outcome="complete")
    line = json.loads(formatter.format(record))
    assert line == {"time": line["time"], "level": "INFO", "logger": "asyncjobs.worker.executor",
                    "message": "job abc done", "queue": "q", "job_id": "abc", "attempt": 2,
                    "duration": 0.25, "outcome": "complete"}
    assert line["time"].endswith("+00:00")
    try:
        raise ValueError("boom")
    except ValueError:
        failing = logging.LogRecord("x", logging.ERROR, __file__, 1, "oops", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(formatter.format(failing))["exception"]
