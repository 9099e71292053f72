"""Job ids: 128 random bits from the OS CSPRNG, as 22 URL-safe base64 characters, the first of
which is never ``-`` (a command line would read such an id as an option): it becomes ``_``.

Bytes are read from ``os.urandom`` 4 KB at a time, a buffer per thread (so two threads never
share bytes), and a forked child starts with a fresh buffer (so it never repeats its parent's
ids): a third of the cost of ``secrets.token_urlsafe(16)``, which bulk enqueue pays a job.
"""

from __future__ import annotations

import binascii
import os
import threading

_BYTES = 16
_BUFFER = _BYTES * 256
_URLSAFE = bytes.maketrans(b"+/", b"-_")


class _Buffer(threading.local):
    def __init__(self) -> None:
        self.data = b""
        self.at = 0


_buffer = _Buffer()


def _after_fork() -> None:
    global _buffer
    _buffer = _Buffer()


os.register_at_fork(after_in_child=_after_fork)


def new_job_id() -> str:
    buffer = _buffer
    at = buffer.at
    if at >= len(buffer.data):
        buffer.data, at = os.urandom(_BUFFER), 0
    buffer.at = at + _BYTES
    raw = binascii.b2a_base64(buffer.data[at:at + _BYTES], newline=False)
    job_id = raw[:22].translate(_URLSAFE).decode()
    return "_" + job_id[1:] if job_id[0] == "-" else job_id
