"""Every Redis key and channel name of a queue, built in one place.

All keys of one queue share the hash tag ``{name}``, so every multi-key step (BLMOVE, the
Lua scripts) stays in one cluster slot.
"""

from __future__ import annotations

import re

from .errors import ConfigError

PREFIX = "aj"
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_JOB_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
_WORKER_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
SHOWN_CHARS = 40
"""A refused value longer than this is cut in its error message."""


def _shown(value: str) -> str:
    if len(value) <= SHOWN_CHARS:
        return repr(value)
    return f"{value[:SHOWN_CHARS]!r}... ({len(value)} chars)"


def check_queue_name(name: str) -> str:
    if not _QUEUE_NAME.fullmatch(name):
        raise ConfigError(f"queue name {_shown(name)} must match [A-Za-z0-9_.-]{{1,64}}")
    return name


def check_job_id(job_id: str) -> str:
    if not _JOB_ID.fullmatch(job_id):
        raise ConfigError(f"job id {_shown(job_id)} must match [A-Za-z0-9_.:-]{{1,128}}")
    return job_id


def check_worker_id(worker_id: str) -> str:
    if not _WORKER_ID.fullmatch(worker_id):
        raise ConfigError(f"worker id {_shown(worker_id)} must match [A-Za-z0-9_.-]{{1,128}}")
    return worker_id


class QueueKeys:
    """Key names for one queue.

    ========================  ======  ===========================================
    key                       type    holds
    ========================  ======  ===========================================
    ``aj:{q}:pending``        list    encoded jobs waiting to run (LPUSH in, taken from the right)
    ``aj:{q}:processing:<w>`` list    jobs worker ``w`` has taken and not finished
    ``aj:{q}:hb:<w>``         string  worker ``w``'s heartbeat, with a TTL
    ``aj:{q}:workers``        zset    worker ids by last heartbeat time
    ``aj:{q}:queued``         hash    job id -> state, enqueued_at and task of each job not yet
                                      started (its record is made when it first starts)
    ``aj:{q}:job:<id>``       hash    one started job's state and, once finished, its outcome (TTL)
    ``aj:{q}:scheduled``      zset    jobs to run later (delayed jobs, retries) by due time
    ``aj:{q}:dead``           list    dead-lettered jobs, capped
    ``aj:{q}:stats``          hash    queue-wide counters
    ``aj:{q}:done``           pubsub  channel announcing finished job ids
    ========================  ======  ===========================================
    """

    __slots__ = (
        "base", "dead", "done", "name", "pending", "queued", "scheduled", "stats", "workers",
    )

    def __init__(self, name: str) -> None:
        self.name = check_queue_name(name)
        self.base = f"{PREFIX}:{{{name}}}"
        self.pending = f"{self.base}:pending"
        self.queued = f"{self.base}:queued"
        self.workers = f"{self.base}:workers"
        self.scheduled = f"{self.base}:scheduled"
        self.dead = f"{self.base}:dead"
        self.stats = f"{self.base}:stats"
        self.done = f"{self.base}:done"

    def job(self, job_id: str) -> str:
        return f"{self.base}:job:{check_job_id(job_id)}"

    def processing(self, worker_id: str) -> str:
        return f"{self.base}:processing:{check_worker_id(worker_id)}"

    def heartbeat(self, worker_id: str) -> str:
        return f"{self.base}:hb:{check_worker_id(worker_id)}"

    @property
    def job_prefix(self) -> str:
        """Prefix of every job key; scripts that find job ids inside payloads append the id."""
        return f"{self.base}:job:"
