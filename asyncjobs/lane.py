"""A connection of its own for one hot command whose leading arguments never change.

``task.delay()`` sends the same EVALSHA with the same keys every time; only the last few
arguments differ. The lane packs the fixed part once and sends each call on a connection of its
own, without the pool or redis-py's per-command machinery (about a third less client CPU a
call), and writes it straight to the connection's stream (redis-py's timed write is a task a
call: half of what was left of a one-at-a-time ``.delay()``'s client CPU).
One call at a time: while it is busy, callers take the ordinary path (the pool).
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

BULK = b"$%d\r\n%s\r\n"
"""One argument as the protocol sends it: ``BULK % (len(value), value)``."""

Tail = tuple[int, bytes]
"""A call's arguments after a lane's fixed head: how many, and each packed as ``BULK``, one
after the other (``pack``; a caller with many arguments of a known layout may pack them in
fewer steps)."""


def pack(*parts: bytes) -> Tail:
    return len(parts), b"".join([BULK % (len(part), part) for part in parts])


class Lane:
    def __init__(self, pool: aredis.ConnectionPool, *head: str) -> None:
        self._pool = pool
        self._conn: AbstractConnection | None = None  # made (and connected) on first use
        self._count = len(head)
        self._head = pack(*(part.encode() for part in head))[1]
        self.busy: bool = False

    async def call(self, tail: Tail) -> Any:
        """The reply to the fixed head followed by ``tail``. An error (or a cancellation) while
        sending or reading drops the connection (redis-py does), so no reply is left unread on
        it; the next call reconnects. An error reply is raised, as ``ResponseError``."""
        conn = self._conn
        if conn is None:
            conn = self._conn = self._pool.make_connection()  # type: ignore[no-untyped-call]
        self.busy = True
        try:
            count, packed = tail
            command = b"*%d\r\n%s%s" % (self._count + count, self._head, packed)
            if not conn.is_connected:
                await conn.connect_check_health(check_health=False)
            await self._send(conn, command)
            return await conn.read_response()  # within the connection's socket timeout
        finally:
            self.busy = False

    @staticmethod
    async def _send(conn: AbstractConnection, command: bytes) -> None:
        """Write ``command`` to the connection's stream. redis-py's ``send_packed_command`` puts
        each write in a task of its own to time it (``asyncio.wait_for``): two more turns of the
        event loop a call. A socket with room takes the command at once; only a write left in
        the transport's buffer is waited for, within the connection's socket timeout."""
        try:
            writer = conn._writer
            assert writer is not None, "connected above"
            writer.write(command)
            if writer.transport.get_write_buffer_size():
                async with asyncio.timeout(conn.socket_timeout):
                    await writer.drain()
        except TimeoutError:
            await conn.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except (OSError, RuntimeError) as exc:  # RuntimeError: uvloop's transport closed (a reset)
            await conn.disconnect(nowait=True)
            raise RedisConnectionError(f"the lane's connection closed: {exc}") from exc
        except BaseException:  # cancelled mid-write: no half-written command stays on it
            await conn.disconnect(nowait=True)
            raise

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.disconnect()
            self._conn = None
