"""Concurrent calls that share one round trip.

A caller that finds the fast path busy (another call of the same kind in flight) joins the
batch being formed; the batch goes out as one call on the loop's next step, so every caller
that joined within one turn of the loop (those woken together by the last reply, say) shares
it, and each gets its own slice of the replies. One caller alone never waits for a batch. A
caller that gives up (a timeout) leaves the others theirs; once all have, the call is cancelled,
as a caller's own call would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_BATCH = 1000
"""Items a shared call carries at most; a caller beyond that starts the next batch."""


@dataclass(slots=True)
class _Batch(Generic[T]):
    at: float  # the first caller's time, sent for all of them
    items: list[bytes] = field(default_factory=list)
    waiters: list[tuple[int, int, asyncio.Future[list[T]]]] = field(default_factory=list)
    sending: asyncio.Task[None] | None = None


class Coalescer(Generic[T]):
    def __init__(self, send: Callable[[list[bytes], float], Awaitable[list[T]]]) -> None:
        """``send(items, at)`` makes one call for all of a batch's items; one reply an item."""
        self._send = send
        self._forming: _Batch[T] | None = None
        self._sending: set[asyncio.Task[None]] = set()  # referenced until done

    async def call(self, items: Sequence[bytes], at: float) -> list[T]:
        """The replies to ``items``, sent with the batch being formed."""
        loop = asyncio.get_running_loop()
        batch = self._forming
        if batch is None or len(batch.items) >= MAX_BATCH:
            batch = self._forming = _Batch(at)
            batch.sending = loop.create_task(self._flush(batch))
            self._sending.add(batch.sending)
            batch.sending.add_done_callback(self._sending.discard)
        replied: asyncio.Future[list[T]] = loop.create_future()
        batch.waiters.append((len(batch.items), len(items), replied))
        batch.items.extend(items)
        try:
            return await replied
        except asyncio.CancelledError:
            if batch.sending is not None and all(w.done() for _, _, w in batch.waiters):
                batch.sending.cancel()  # every caller gave up: the call is nobody's now
            raise

    async def _flush(self, batch: _Batch[T]) -> None:
        if self._forming is batch:  # closed: later callers form the next one
            self._forming = None
        try:
            replies = await self._send(batch.items, batch.at)
        except BaseException as exc:
            failed = isinstance(exc, Exception)
            for _, _, replied in batch.waiters:
                if replied.done():  # its caller gave up meanwhile
                    continue
                if failed:
                    replied.set_exception(exc)
                else:
                    replied.cancel()
            if not failed:
                raise
            return
        for start, count, replied in batch.waiters:
            if not replied.done():
                replied.set_result(replies[start:start + count])
