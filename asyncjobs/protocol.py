"""The Redis protocol of a queue: every name, field, state, format and code that Python and the
Lua scripts share, declared once.

- **Keys**: ``QueueKeys`` builds every key and channel name of a queue. All of them share the
  hash tag ``{name}``, so every multi-key step stays in one cluster slot.
- **Wire structs**: what travels as msgpack: the ``Envelope`` of a call, its ``Outcome``, and a
  ``DeadLetter``. The scripts read the head of an envelope and build dead letters and outcomes
  themselves (``scripts/lib/msgpack.lua``); contract tests decode their bytes with these structs.
- **The job record**: the hash ``aj:{q}:job:<id>``, its fields (``Field``) and states
  (``JobState``); and the entry of a job that has not started yet in the queued hash
  (``encode_queued``/``decode_queued``).
- **Counters** of the stats hash (``Stat``), the **notice** a finished job publishes
  (``encode_notice``/``decode_notice``), and the **replies** of the scripts (``Reply``).

The scripts name these as upper-case constants (``FIELD_STATE``, ``STATE_RUNNING``,
``STAT_DEAD``, ``REPLY_DONE``...); ``lua_constants()`` is their one source, and a script that
names a constant not declared here fails to load.
"""

from __future__ import annotations

import binascii
import re
import zlib
from enum import IntEnum, StrEnum
from typing import Any, NamedTuple

import msgspec

from .errors import ConfigError

# -- keys ------------------------------------------------------------------------------------

PREFIX = "aj"
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_JOB_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
_WORKER_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_QUOTE_AT_MOST = 40


def _quoted(value: str) -> str:
    """``value`` for an error message: cut when long, so a 10 kB id does not fill the screen."""
    if len(value) <= _QUOTE_AT_MOST:
        return repr(value)
    return f"{value[:_QUOTE_AT_MOST]!r}... ({len(value)} chars)"


def check_queue_name(name: str) -> str:
    if not _QUEUE_NAME.fullmatch(name):
        raise ConfigError(f"queue name {_quoted(name)} must match [A-Za-z0-9_.-]{{1,64}}")
    return name


def check_job_id(job_id: str) -> str:
    if not _JOB_ID.fullmatch(job_id):
        raise ConfigError(f"job id {_quoted(job_id)} must match [A-Za-z0-9_.:-]{{1,128}}")
    return job_id


def check_unique_key(key: str, name: str = "unique_key") -> str:
    """A unique key or concurrency key (``name`` says which, for the error)."""
    if not _JOB_ID.fullmatch(key):
        raise ConfigError(f"{name} {_quoted(key)} must match [A-Za-z0-9_.:-]{{1,128}}")
    return key


def check_worker_id(worker_id: str) -> str:
    if not _WORKER_ID.fullmatch(worker_id):
        raise ConfigError(f"worker id {_quoted(worker_id)} must match [A-Za-z0-9_.-]{{1,128}}")
    return worker_id


REGISTRY = f"{PREFIX}:queues"
"""A set of the names of every queue that has been used (by a worker, or to enqueue): what
``asyncjobs info`` and the dashboard list. Outside every queue's hash tag: it is read and
written alone, never in a script."""
FAILED_KEPT = 10_000
"""Ids of failed jobs a queue's ``failed`` index keeps, the newest (``asyncjobs jobs --status
failed``)."""
LOG_LINES_KEPT = 1000
"""Log lines a job keeps (``Context.log``), the newest."""
LOG_LINE_MAX = 2000
"""Characters of one log line kept; a longer line is cut."""
MINUTE_TTL = 2 * 3600
"""Seconds a queue's per-minute counters are kept: the last hour is always whole."""


class Key(StrEnum):
    """The suffixes of the keys that a script builds for another queue than its own, from that
    queue's ``QueueKeys.key_base`` (a job's dependents may wait in another queue)."""

    PENDING = "pending"
    PRIORITIZED = "prioritized"
    SEQ = "seq"
    QUEUED = "queued"
    STATS = "stats"
    DONE = "done"
    EVENTS = "events"
    JOB = "job:"
    WAITING = "waiting"
    AFTER = "after"
    DEPENDENTS = "dependents:"
    GATHERED = "gathered:"


class Piped(StrEnum):
    """What a waiting job's first argument is: its own (``NO``); the value of its one
    dependency (``VALUE``: a pipeline's step); the list of its dependencies' values, in their
    order (``GATHER``: a group's callback)."""

    NO = "0"
    VALUE = "1"
    GATHER = "2"


class DependencyFailure(StrEnum):
    """What becomes of a job when one of its dependencies (``after=``) ends otherwise than
    complete: it is cancelled (the default), or it runs anyway."""

    CANCEL = "cancel"
    RUN = "run"


class QueueKeys:
    """Key names for one queue.

    ========================  ======  ===========================================
    key                       type    holds
    ========================  ======  ===========================================
    ``aj:{q}:pending``        list    encoded jobs of priority 0 waiting to run (LPUSH in, taken
                                      from the right); may hold one ``WAKE`` marker (below)
    ``aj:{q}:prioritized``    zset    encoded jobs of priority 1..9 waiting to run, scored by
                                      ``priority_score`` (higher priority, then older, first)
    ``aj:{q}:seq``            string  the counter that orders jobs within a priority (and the
                                      key of ``enqueue_replicas``' write that changes nothing)
    ``aj:{q}:paused``         string  present while the queue is paused
    ``aj:{q}:processing:<w>`` list    jobs worker ``w`` has taken and not finished
    ``aj:{q}:hb:<w>``         string  worker ``w``'s heartbeat, with a TTL: its ``WorkerCard``
    ``aj:{q}:workers``        zset    worker ids by last heartbeat time
    ``aj:{q}:queued``         hash    job id -> queued entry (``encode_queued``) of each job not
                                      yet started (its record is made when it first starts)
    ``aj:{q}:job:<id>``       hash    one started job's record (``Field``), with a TTL
    ``aj:{q}:scheduled``      zset    jobs to run later (delayed jobs, retries) by due time
    ``aj:{q}:dead``           list    dead letters (``DeadLetter``), newest first, capped
    ``aj:{q}:failed``         zset    ids of the jobs that failed, by finish time, the newest
                                      ``FAILED_KEPT`` kept (their records may have expired)
    ``aj:{q}:stats``          hash    queue-wide counters (``Stat``)
    ``aj:{q}:done``           pubsub  a notice (``encode_notice``) for each finished job
    ``aj:{q}:control``        pubsub  ``Control`` messages to the queue's workers
    ``aj:{q}:unique:<key>``   string  the id of the job that holds the unique key ``key``
                                      (``When.unique``), while its window lasts
    ``aj:{q}:debounced``      hash    job id -> its envelope, for a debounced job not yet started
                                      (a later enqueue with its key replaces it)
    ``aj:{q}:conc:run:<g>``   set     ids of the running jobs of concurrency group ``g``: a task
                                      (``t:<task>``) or a task's key (``k:<task>:<key>``)
    ``aj:{q}:conc:wait:<g>``  list    jobs waiting for a slot of group ``g`` (not in a worker)
    ``aj:{q}:conc:rate:<t>``  string  task ``t``'s rate limiter: its next start time (GCRA, ms);
                                      ``...:next``: when the next job over the rate is due
    ``aj:{q}:conc:qrate``     string  the queue's rate limiter (``Settings.rate_limit``), the
                                      same way; ``...:next`` likewise
    ``aj:{q}:logs:<id>``      list    a job's log lines (``encode_log_line``), the last
                                      ``LOG_LINES_KEPT``, expiring with its record
    ``aj:{q}:events``         stream  the queue's events (``EventKind``), fields ``k`` (kind),
                                      ``j`` (job id), ``d`` (data); capped near
                                      ``Settings.events_max_len`` entries
    ``aj:{q}:waiting``        hash    job id -> envelope of a job waiting for its dependencies
                                      (``after=``; its queued entry is marked waiting)
    ``aj:{q}:after``          hash    job id -> ``<remaining>,<DependencyFailure>,<Piped>``
                                      of each waiting job: how many dependencies it waits for
    ``aj:{q}:dependents:<id>`` set    ``<key_base> <id> <n>`` of each job waiting for job
                                      ``id`` (in any queue) as its ``n``-th dependency
    ``aj:{q}:gathered:<id>``  hash    ``n`` -> value of its ``n``-th dependency, and ``count``,
                                      for a group's callback ``id`` (``Piped.GATHER``)
    ``aj:{q}:minute:<m>``     hash    jobs finished in minute ``m`` (Unix time // 60) by final
                                      state, kept ``MINUTE_TTL`` seconds
    ``aj:{q}:schedules``      hash    schedule name -> encoded ``ScheduleSpec`` (no TTL)
    ``aj:{q}:schedule_state`` hash    schedule name -> ``ScheduleState`` text: the last slot
                                      handled, the last slot run and its job id (no TTL)
    ``aj:{q}:shards``         string  how many shards the queue has (``Queue(shards=...)``), set
                                      when it is first used (no TTL)
    ========================  ======  ===========================================

    Scripts that find job ids inside payloads (LMOVE from a list) build the record key as
    ``job_prefix .. id``: the prefix carries the hash tag, so the key is in the script's slot.

    A worker with nothing to do blocks on ``pending`` alone (BLMOVE). So a job entering
    ``prioritized`` while ``pending`` is empty also pushes ``WAKE`` there: the worker that takes
    the marker takes the best prioritized job in its place. The marker is pushed only into an
    empty list, so there is at most one (bar one put back by a crash), and workers drop it.
    """

    __slots__ = (
        "after", "base", "conc_prefix", "control", "dead", "debounced", "done", "events",
        "failed", "job_prefix", "key_base", "logs_prefix", "name", "paused", "pending",
        "prioritized", "queue", "queued", "schedule_state", "scheduled", "schedules", "seq",
        "shards", "stats", "unique_prefix", "waiting", "workers",
    )

    def __init__(self, name: str, *, shard: tuple[int, int] | None = None) -> None:
        """``shard``: ``(index, count)`` for the keys of one shard of queue ``name``
        (``Queue(name, shards=count)``), under the tag ``shard_tag(name, index, count)``."""
        self.queue: str = check_queue_name(name)
        """The name of the queue, as its users know it (also for one of its shards)."""
        if shard is not None:
            name = shard_tag(name, *shard)
        self.name: str = name
        """The hash tag of the keys: the queue's name, or one shard's (``<queue>~<index>...``)."""
        self.base: str = f"{PREFIX}:{{{name}}}"
        self.key_base: str = f"{self.base}:"
        """What each key name starts with: scripts build another queue's keys from it (``Key``)."""
        self.pending: str = f"{self.key_base}{Key.PENDING}"
        self.prioritized: str = f"{self.key_base}{Key.PRIORITIZED}"
        self.seq: str = f"{self.key_base}{Key.SEQ}"
        self.paused: str = f"{self.base}:paused"
        self.control: str = f"{self.base}:control"
        self.queued: str = f"{self.key_base}{Key.QUEUED}"
        self.waiting: str = f"{self.key_base}{Key.WAITING}"
        self.after: str = f"{self.key_base}{Key.AFTER}"
        self.workers: str = f"{self.base}:workers"
        self.scheduled: str = f"{self.base}:scheduled"
        self.dead: str = f"{self.base}:dead"
        self.failed: str = f"{self.base}:failed"
        self.stats: str = f"{self.key_base}{Key.STATS}"
        self.done: str = f"{self.key_base}{Key.DONE}"
        self.events: str = f"{self.key_base}{Key.EVENTS}"
        self.job_prefix: str = f"{self.key_base}{Key.JOB}"
        self.unique_prefix: str = f"{self.base}:unique:"
        self.logs_prefix: str = f"{self.base}:logs:"
        self.debounced: str = f"{self.base}:debounced"
        self.conc_prefix: str = f"{self.base}:conc:"
        self.schedules: str = f"{self.base}:schedules"
        self.schedule_state: str = f"{self.base}:schedule_state"
        self.shards: str = f"{self.base}:shards"

    def job(self, job_id: str) -> str:
        return f"{self.job_prefix}{check_job_id(job_id)}"

    def gathered(self, job_id: str) -> str:
        """The values gathered so far for group callback ``job_id``."""
        return f"{self.key_base}{Key.GATHERED}{check_job_id(job_id)}"

    def dependents(self, job_id: str) -> str:
        """The jobs waiting for job ``job_id`` (``after=``)."""
        return f"{self.key_base}{Key.DEPENDENTS}{check_job_id(job_id)}"

    def logs(self, job_id: str) -> str:
        """A job's log lines (``Context.log``)."""
        return f"{self.logs_prefix}{check_job_id(job_id)}"

    def minute(self, minute: int) -> str:
        """The counters of the jobs finished in ``minute`` (Unix time // 60)."""
        return f"{self.base}:minute:{minute}"

    def processing(self, worker_id: str) -> str:
        return f"{self.base}:processing:{check_worker_id(worker_id)}"

    def heartbeat(self, worker_id: str) -> str:
        return f"{self.base}:hb:{check_worker_id(worker_id)}"


MAX_SHARDS = 256
_SLOTS = 16384
"""Hash slots of a Redis Cluster."""


def shard_tag(name: str, index: int, shards: int) -> str:
    """The hash tag of shard ``index`` of queue ``name`` with ``shards`` shards:
    ``<name>~<index>``, or ``<name>~<index>.<n>`` with the first ``n`` that puts the tag in the
    ``index``-th of ``shards`` equal ranges of hash slots. So the shards of a queue spread over a
    cluster's masters as evenly as its slots do (a cluster of M masters with even slot ranges
    and ``shards=M`` has one shard on each). ``~`` is not allowed in queue names: no tag of a
    shard is another queue's."""
    low, high = index * _SLOTS // shards, (index + 1) * _SLOTS // shards
    tag, n = f"{name}~{index}", 0
    while not low <= binascii.crc_hqx(tag.encode(), 0) % _SLOTS < high:
        n += 1
        tag = f"{name}~{index}.{n}"
    return tag


def shard_index(value: str, shards: int) -> int:
    """Which of ``shards`` shards a unique key or concurrency key belongs to."""
    return zlib.crc32(value.encode()) % shards


def job_shard(job_id: str, shards: int) -> int:
    """Which of ``shards`` shards job ``job_id`` is in: a schedule's job (``schedule_job_id``)
    in the first, where schedules live and fire; any other as ``shard_index`` says."""
    return 0 if job_id.startswith(SCHEDULE_JOB_PREFIX) else shard_index(job_id, shards)


WAKE = "wake"
"""The marker entry of the pending list (see ``QueueKeys``); never a valid envelope."""
MAX_PRIORITY = 9
PRIORITY_SPAN = 1 << 40
"""Scores of one priority level in the prioritized zset: the level's base plus a counter."""
RATE_BURST_SHARE = 0.05
"""A rate limit of N per period lets up to this share of N (at least 1) start at once."""
RATE_LATENCY_MS = 50
"""A rate limit's least tolerance (ms, at most half its interval), which matters for a burst of 1
(a larger burst tolerates a whole interval or more): a start may be this early against the one
before it, so that the varying latency of the schedule, which brings back the jobs over the
rate, costs them no turns."""


def priority_score(priority: int, seq: int) -> int:
    """The prioritized-zset score of the ``seq``-th job of ``priority`` (lowest runs first)."""
    return (MAX_PRIORITY - priority) * PRIORITY_SPAN + seq


# -- wire structs ------------------------------------------------------------------------------


class Envelope(msgspec.Struct, array_like=True, frozen=True):
    """One call of a task. ``args`` holds the encoded arguments, decoded by the task's codec.

    Encoded as a msgpack array whose first two elements are the job id and the task name, so
    the scripts read both without decoding the rest (``scripts/lib/job_head.lua``).

    ``trace`` is optional and last: the trace context of the span that enqueued the call (W3C
    ``traceparent``, maybe ``tracestate``; see ``asyncjobs.tracing``), so the run's span is its
    child. ``envelope_bytes`` leaves it out when there is none, so an untraced call is the
    four elements it was before the field existed, and envelopes without it decode with None.
    A worker of a version before it ignores it.
    """

    id: str
    task: str
    args: msgspec.Raw
    enqueued_at: float
    trace: dict[str, str] | None = None


class ErrorKind(StrEnum):
    ERROR = "error"
    TIMEOUT = "timeout"
    DEAD = "dead"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ErrorInfo(msgspec.Struct, array_like=True, frozen=True):
    kind: ErrorKind
    type: str
    message: str
    traceback: str = ""


NIL = msgspec.Raw(b"\xc0")  # msgpack nil


class Outcome(msgspec.Struct, array_like=True, frozen=True):
    """How a job ended: the encoded return value, or the error."""

    value: msgspec.Raw = NIL
    error: ErrorInfo | None = None


class DeadLetter(msgspec.Struct, array_like=True, frozen=True):
    """An entry of the dead-letter list; ``payload`` is the job's bytes exactly as they were."""

    reason: str
    message: str
    payload: bytes
    queue: str
    worker_id: str
    at: float
    job_id: str | None = None


class WorkerCard(msgspec.Struct, array_like=True, frozen=True):
    """Who a worker is, the value of its heartbeat keys (``asyncjobs workers``): its host, its
    process id, when it started (Unix time) and the queues it serves."""

    host: str
    pid: int
    started: float
    queues: list[str]


ENCODER = msgspec.msgpack.Encoder()


def envelope_bytes(envelope: Envelope) -> bytes:
    """An envelope's bytes: four elements when it carries no trace context, five when it does."""
    if envelope.trace is None:
        return ENCODER.encode((envelope.id, envelope.task, envelope.args, envelope.enqueued_at))
    return ENCODER.encode(envelope)


ENVELOPE_DECODER = msgspec.msgpack.Decoder(Envelope)
OUTCOME_DECODER = msgspec.msgpack.Decoder(Outcome)
DEAD_LETTER_DECODER = msgspec.msgpack.Decoder(DeadLetter)
WORKER_CARD_DECODER = msgspec.msgpack.Decoder(WorkerCard)
ANY_DECODER: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder()


# -- the job record ----------------------------------------------------------------------------


class Field(StrEnum):
    """Fields of the job record hash. Short on the wire: a record is kept for every job."""

    STATE = "s"
    """A ``JobState``."""
    TASK = "t"
    ATTEMPTS = "a"
    """Attempts started so far (1 on the first run)."""
    ENQUEUED_AT = "e"
    STARTED_AT = "st"
    """Unix time the last attempt started."""
    FINISHED_AT = "f"
    OUTCOME = "r"
    """The encoded ``Outcome``, set once: the first execution to finish wins."""
    FINISHED_BY = "fw"
    """The token of the execution that stored the outcome (unique per run)."""
    LAST_ERROR = "le"
    """``"Type: message"`` of the last failed attempt, while its retry waits."""
    RECOVERIES = "rc"
    """Times the job was recovered from a dead worker."""
    PRIORITY = "p"
    """The job's priority, when not 0 (kept for its retries)."""
    UNIQUE = "u"
    """The unique key the job holds until it ends (``When.unique``), when it has one."""
    LIMITS = "l"
    """The job's concurrency limits (``When.limits``), when it has any."""
    PROGRESS = "pg"
    """The running job's last reported progress, 0.0..1.0 (``Context.progress``)."""
    PROGRESS_MESSAGE = "pm"
    """The message of that report, when it had one."""
    LOGGED = "lg"
    """Present once the job has log lines (``Context.log``): its logs key then expires with
    the record."""
    PAYLOAD = "pl"
    """The job's call as it was enqueued (its envelope), kept only once it has failed: what
    ``retry`` enqueues again (``scripts/rerun.lua``)."""
    DUPLICATE = "x:"
    """Prefix of a field ``x:<token>`` marking a late execution already counted as a duplicate."""


class JobState(StrEnum):
    """Where a job is in its life. A job waiting to start has only a queued entry; from its
    first start on, its record says."""

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    WAITING = "waiting"
    """Waiting for its dependencies to complete (``after=``)."""
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


FINAL_STATES = frozenset({JobState.COMPLETE, JobState.FAILED, JobState.DEAD, JobState.CANCELLED,
                          JobState.EXPIRED})
"""States a job never leaves (bar a requeue of its dead letter)."""

_QUEUED_MARKS = {JobState.QUEUED: "q", JobState.SCHEDULED: "s", JobState.WAITING: "w"}
_STATE_OF_MARK = {mark: state for state, mark in _QUEUED_MARKS.items()}


class QueuedEntry(NamedTuple):
    """A job that has not started yet: its queued-hash entry,
    ``<mark><enqueued_at>[,<priority>,<expires_at>,<unique>[,<limits>]] <task>`` (mark ``q``
    queued, ``s`` scheduled or ``w`` waiting for its dependencies; ``unique`` and ``limits``
    (three parts) as in ``When``; the head before the space holds no space, a task name
    may)."""

    state: JobState
    enqueued_at: float
    task: str
    priority: int = 0
    expires_at: float | None = None


class Unique(StrEnum):
    """How long a job holds its ``unique_key``: while it waits to start, until it ends (the
    default), or until its result expires."""

    WHILE_QUEUED = "while_queued"
    WHILE_ACTIVE = "while_active"
    UNTIL_RESULT_EXPIRES = "until_result_expires"


_UNIQUE_MARKS = {Unique.WHILE_QUEUED: "q", Unique.WHILE_ACTIVE: "a",
                 Unique.UNTIL_RESULT_EXPIRES: "r"}


def encode_unique(window: Unique, key: str) -> str:
    """A unique key as ``When.unique`` holds it: its window's mark, then the key."""
    return _UNIQUE_MARKS[window] + check_unique_key(key)


def decode_unique_key(unique: str) -> str:
    """The key of a ``When.unique`` (``encode_unique``), without its window's mark."""
    return unique[1:]


class When(NamedTuple):
    """When and how enqueued jobs may start (what their queued entry holds): ``due`` (Unix
    time, None for now), ``priority`` (0..9), ``expires_at`` (Unix time, None for never),
    ``unique`` (``encode_unique``: the key the job holds, None for none) and ``debounce``
    (a later enqueue with the same unique key replaces the job while it waits)."""

    due: float | None = None
    priority: int = 0
    expires_at: float | None = None
    unique: str | None = None
    debounce: bool = False
    limits: str | None = None
    """``<max_concurrency>,<key_concurrency>,<rates>,<concurrency_key>`` (empty parts for
    none): the global slots the job must hold to run, and the rates it keeps to: its task's,
    then ``;`` and its queue's when the queue has one, each ``<count>/<period in ms>``."""
    after: tuple[str, ...] = ()
    """The jobs it waits for, each as ``<key_base> <id>`` (``QueueKeys.key_base`` of its
    queue): it starts once all have completed."""
    on_dependency_failure: DependencyFailure = DependencyFailure.CANCEL
    piped: Piped = Piped.NO
    """What its first argument is: its own, or what its dependencies return."""


NOW = When()
"""Jobs to run now, at priority 0, never expiring: the common case."""


def decode_queued(raw: bytes) -> QueuedEntry:
    head, _, task = raw.decode().partition(" ")
    enqueued_at, priority, expires_at, *_ = (*head[1:].split(","), "", "")
    return QueuedEntry(_STATE_OF_MARK[head[:1]], float(enqueued_at), task,
                       int(priority or 0), float(expires_at) if expires_at else None)


# -- counters, notices, replies ----------------------------------------------------------------


class Stat(StrEnum):
    """Counters of the queue's stats hash (``Queue.stats()``)."""

    COMPLETE = "complete"
    FAILED = "failed"
    DEAD = "dead"
    RETRIED = "retried"
    RECOVERED = "recovered"
    """Jobs put back on the queue from dead workers."""
    DUPLICATE_COMPLETIONS = "duplicate_completions"
    """Executions that ended after another execution of the same job had stored its outcome."""
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    """Jobs whose ``expires`` passed before they started."""
    SCHEDULE_MISFIRES = "schedule_misfires"
    """Schedule slots not run because they were missed: past their misfire grace, or folded
    into a later missed slot (only the latest missed slot runs)."""
    SCHEDULE_SKIPS = "schedule_skips"
    """Schedule slots not run because the schedule's previous job was still queued or running
    (``skip_if_running``)."""


def encode_log_line(at: float, line: str) -> str:
    """One entry of a job's logs: ``<Unix time> <line>``, the line cut at ``LOG_LINE_MAX``."""
    return f"{at:.6f} {line[:LOG_LINE_MAX]}"


def decode_log_line(raw: bytes) -> tuple[float, str]:
    at, _, line = raw.decode(errors="replace").partition(" ")
    return float(at), line


NOTICE_MAX_OUTCOME = 4096
"""Outcomes up to this many bytes travel in the notice, so a waiter needs no read."""
_NOTICE_BODY_DECODER = msgspec.msgpack.Decoder(tuple[str, Outcome])


def encode_notice(job_id: str, task: str, outcome: bytes) -> bytes:
    """What a finished job publishes on the done channel: ``<id>``, or, when the outcome is
    small, ``<id> <msgpack [task, outcome]>`` (a job id has no space). The scripts that finish
    jobs on their own (dead letters, recovery) publish the bare id."""
    if len(outcome) > NOTICE_MAX_OUTCOME:
        return job_id.encode()
    return b"%s \x92%s%s" % (job_id.encode(), ENCODER.encode(task), outcome)


def split_notice(notice: bytes) -> tuple[str, bytes]:
    """A notice's job id and its body (empty for a bare id)."""
    job_id, _, body = notice.partition(b" ")
    return job_id.decode(), body


def decode_notice_body(body: bytes) -> tuple[str, Outcome]:
    """The task name and outcome that a notice body carries."""
    return _NOTICE_BODY_DECODER.decode(body)


class Reply(IntEnum):
    """What a script says about one job, or about one call."""

    NOT_OURS = 0
    """The job's entry is not in our processing list: recovered by another worker, or finished."""
    DONE = 1
    TAKEN = 2
    """enqueue: a job with this id exists; nothing was written for it."""
    ALIVE = 3
    """reap: the worker's heartbeat is there; nothing was done."""
    GONE = 4
    """revive: the dead letter is no longer in the list; fire: the schedule was removed or
    replaced since it was read."""
    PAUSED = 5
    """fetch, start: the queue is paused; nothing was taken."""
    SKIPPED = 6
    """fire: the schedule's previous job is still queued or running; the slot is skipped."""
    MISSED = 7
    """fire: the slot is past its misfire grace; it is skipped."""


class EventKind(StrEnum):
    """What happened to a job, as the queue's event stream says (``Queue.events``). Each event
    is written by the script that makes the change it reports, in the same atomic step. Its
    ``data``: ``enqueued``: the task's name; ``started``: the attempt number; ``progress``:
    ``<fraction> <message>``; ``retrying``: ``<due Unix time> <Type: message>``; ``dead``: the
    dead-letter reason; the others: empty."""

    ENQUEUED = "enqueued"
    STARTED = "started"
    PROGRESS = "progress"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Control(StrEnum):
    """Messages on a queue's control channel, to its workers: ``cancel <job id>`` (stop that
    running job), ``pause`` and ``resume``. A worker that reconnects reads the state they
    announce from Redis, so a missed message is made up for."""

    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"


# -- schedules -----------------------------------------------------------------------------------

_SCHEDULE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}")


def check_schedule_name(name: str) -> str:
    if not _SCHEDULE_NAME.fullmatch(name):
        raise ConfigError(f"schedule name {_quoted(name)} must match [A-Za-z0-9_.-]{{1,100}}")
    return name


class ScheduleSpec(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A schedule, as stored in ``aj:{q}:schedules``: which call to enqueue, and when.

    Exactly one of ``cron`` (a 5-field cron expression, read in the time zone ``tz``) and
    ``every`` (seconds; slots are the multiples of it since the Unix epoch) is set. ``args`` is
    the encoded arguments of the call (an ``Envelope``'s ``args``). Slots at or before
    ``created_at`` never run.
    """

    name: str
    task: str
    args: bytes
    created_at: float
    cron: str | None = None
    every: float | None = None
    tz: str = "UTC"
    misfire_grace: float = 60.0
    skip_if_running: bool = True
    from_code: bool = False
    """Declared with ``@queue.cron`` (written by each worker at start-up), not ``schedule()``."""
    priority: int = 0
    """The priority of the jobs it enqueues."""


SCHEDULE_DECODER = msgspec.msgpack.Decoder(ScheduleSpec)


def format_slot(slot: float) -> str:
    """A slot (Unix seconds) as it appears in job ids and the schedule state: whole seconds,
    or milliseconds when the interval has them."""
    return f"{slot:.3f}".rstrip("0").rstrip(".")


SCHEDULE_JOB_PREFIX = "cron:"


def schedule_job_id(name: str, slot: float) -> str:
    """The job id of one slot of a schedule, the same for every worker: ``cron:<name>:<slot>``."""
    return f"{SCHEDULE_JOB_PREFIX}{name}:{format_slot(slot)}"


class ScheduleState(NamedTuple):
    """``aj:{q}:schedule_state``'s entry of a schedule, ``<slot> <run slot> <job id>`` (``-`` for
    none), written only by ``fire.lua``: the last slot handled (run or skipped), the last slot
    run and that run's job id."""

    slot: float
    run_slot: float | None
    job_id: str | None


def decode_schedule_state(raw: bytes | None) -> ScheduleState | None:
    parts = raw.decode().split(" ") if raw else []
    if len(parts) != 3:
        return None
    slot, run_slot, job_id = parts
    return ScheduleState(float(slot), None if run_slot == "-" else float(run_slot),
                         None if job_id == "-" else job_id)


def lua_constants() -> dict[str, str | int | float]:
    """Every constant a script may name, by its Lua name."""
    constants: dict[str, str | int | float] = {}
    for prefix, enum in (
        ("FIELD", Field), ("STATE", JobState), ("STAT", Stat), ("REPLY", Reply),
        ("ERROR", ErrorKind), ("CONTROL", Control), ("EVENT", EventKind), ("KEY", Key),
        ("AFTER", DependencyFailure), ("PIPED", Piped),
    ):
        for member in enum:
            constants[f"{prefix}_{member.name}"] = member.value
    for state, mark in _QUEUED_MARKS.items():
        constants[f"MARK_{state.name}"] = mark
    constants["MARK_WAKE"] = WAKE
    for window, mark in _UNIQUE_MARKS.items():
        constants[f"UNIQUE_{window.name}"] = mark
    constants["PRIORITY_MAX"] = MAX_PRIORITY
    constants["PRIORITY_SPAN"] = PRIORITY_SPAN
    constants["RATE_BURST_SHARE"] = RATE_BURST_SHARE
    constants["RATE_LATENCY_MS"] = RATE_LATENCY_MS
    return constants
