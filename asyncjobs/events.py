"""Following a queue's event stream (``Queue.events``): every state change of every job, as the
scripts that make the changes wrote them (``protocol.EventKind``, ``scripts/lib/event.lua``).

Each subscriber reads the stream on its own (XREAD from its last position), so every one sees
every event, in the same order; after a lost connection it goes on from where it was, with no
gap as long as the events it missed are still in the stream (``Settings.events_max_len``).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from .connection import UNREACHABLE, Backoff
from .errors import ConfigError
from .protocol import EventKind, check_job_id

if TYPE_CHECKING:
    import redis.asyncio as aredis

log: logging.Logger = logging.getLogger(__name__)

_LAST_SEQ = (1 << 64) - 1
_READ_AT_MOST = 1000


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a queue: what happened (``kind``) to which job, when (Unix time, by the
    Redis server's clock), with its ``data`` (see ``EventKind``). ``position`` is its place in
    the stream (``<entry id>``, or ``<entry id>.<n>`` for the n-th of the events one step wrote
    together): pass it as ``since=`` to go on after it."""

    position: str
    job_id: str
    kind: EventKind
    at: float
    data: str


Since = str | float | datetime.datetime | None
"""Where a subscription starts: None for the events to come; a stream ``position`` (an
``Event.position``) for the events after it; a Unix time or an aware datetime for the events
from that time on (of those the stream still holds); ``0`` for every event it holds."""


def start_position(since: Since) -> tuple[str, int] | None:
    """The stream entry to read after, for ``since``, and how many of that entry's events were
    already seen (-1: the whole entry); None for "the last event now"."""
    if since is None:
        return None
    if isinstance(since, str):
        entry, dot, index = since.partition(".")
        millis, dash, seq = entry.partition("-")
        if not (millis.isdigit() and (not dash or seq.isdigit()) and (not dot or index.isdigit())):
            raise ConfigError(f"since={since!r} is not an event position such as '1700000000000-0'")
        return entry, int(index) if dot else -1
    if isinstance(since, datetime.datetime):
        if since.tzinfo is None:
            raise ConfigError("since= must be an aware datetime (with a tzinfo)")
        since = since.timestamp()
    if isinstance(since, bool) or not isinstance(since, int | float) or since < 0:
        raise ConfigError(f"since= must be a position, a Unix time or a datetime, not {since!r}")
    ms = int(since * 1000)
    return ("0-0" if ms == 0 else f"{ms - 1}-{_LAST_SEQ}"), -1


async def follow(
    redis: aredis.Redis, stream: str, *, job_id: str | None, since: Since, block: float
) -> AsyncIterator[Event]:
    """The events of ``stream`` from ``since`` on (only ``job_id``'s, when given), forever;
    waits ``block`` seconds at most per read, so a cancellation is never held up long."""
    if job_id is not None:
        check_job_id(job_id)
    start = start_position(since)
    position, seen = start if start is not None else (None, -1)
    backoff = Backoff()
    while True:
        try:
            if position is None:  # "from now": the newest event's id, so none is missed after
                newest = cast("list[tuple[bytes, dict[bytes, bytes]]]",
                              await redis.xrevrange(stream, count=1))
                position = newest[0][0].decode() if newest else "0-0"
            entries: list[tuple[bytes, dict[bytes, bytes]]] = []
            if seen >= 0:  # the rest of a part-seen entry first
                entries = cast("list[tuple[bytes, dict[bytes, bytes]]]",
                               await redis.xrange(stream, position, position, count=1))
            else:
                reply = cast("list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] | None",
                             await redis.xread({stream: position}, count=_READ_AT_MOST,
                                               block=int(block * 1000)))
                entries = [entry for _, read in reply or () for entry in read]
        except UNREACHABLE as exc:
            log.warning("event stream %s: %s; reading again", stream, exc)
            await backoff.wait()
            continue
        backoff.reset()
        skip, seen = seen, -1  # a part-seen entry is read once (if still there), then on
        for raw_id, fields in entries:
            position = raw_id.decode()
            for event in _events(position, fields)[skip + 1:]:
                if job_id is None or event.job_id == job_id:
                    yield event
            skip = -1


async def merged(streams: list[AsyncIterator[Event]]) -> AsyncIterator[Event]:
    """The events of several streams (the shards' of a sharded queue) as they come, in order
    within each; an error of one stream is raised here."""
    out: asyncio.Queue[Event | Exception] = asyncio.Queue(maxsize=_READ_AT_MOST)

    async def pump(stream: AsyncIterator[Event]) -> None:
        try:
            async for event in stream:
                await out.put(event)
        except Exception as exc:
            await out.put(exc)

    pumps = [asyncio.ensure_future(pump(stream)) for stream in streams]
    try:
        while True:
            item = await out.get()
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)


def _events(position: str, fields: dict[bytes, bytes]) -> list[Event]:
    """The events of one stream entry, in order."""
    try:
        kind = EventKind(fields[b"k"].decode())
    except (KeyError, ValueError):
        return []  # not an event of ours
    at = int(position.partition("-")[0]) / 1000
    ids, data = fields.get(b"j", b"").decode(), fields.get(b"d", b"").decode()
    if b"n" not in fields:
        return [Event(position=position, job_id=ids, kind=kind, at=at, data=data)]
    lines = ids.split("\n")
    values = data.split("\n")
    if len(values) != len(lines):  # a data line held a newline: not to be split up
        values = [""] * len(lines)
    return [Event(position=f"{position}.{i}", job_id=job, kind=kind, at=at, data=value)
            for i, (job, value) in enumerate(zip(lines, values, strict=True))]
