"""A TCP fault proxy: one-sided stalls, latency and lost replies between some clients and a server."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from asyncjobs.server import free_port


class FaultProxy:
    """A TCP relay on 127.0.0.1 in its own thread and event loop, between some clients and the
    server. Only clients pointed at it see its faults, which gives one-sided partitions.

    Modes, set from the test: ``stall(seconds)`` keeps sockets open but relays nothing;
    ``latency(ms)`` delays every chunk; ``cut_replies(marker, times)`` lets a command containing
    ``marker`` reach the server, then drops its reply and closes the connection;
    ``delay_requests(marker, seconds, times)`` holds a command containing ``marker`` for
    ``seconds`` before it reaches the server (the client gives up meanwhile: a late copy).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._stalled_until = 0.0
        self._latency = 0.0
        self._cut_marker: bytes | None = None
        self._cuts_left = 0
        self.cuts_done = 0
        self._delay_marker: bytes | None = None
        self._delay = 0.0
        self._delays_left = 0
        self.delays_done = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.base_events.Server | None = None
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stall(self, seconds: float) -> None:
        self._stalled_until = time.monotonic() + seconds

    def latency(self, ms: float) -> None:
        self._latency = ms / 1000

    def cut_replies(self, marker: bytes, times: int) -> None:
        self._cut_marker, self._cuts_left = marker, times

    def delay_requests(self, marker: bytes, seconds: float, times: int) -> None:
        self._delay_marker, self._delay, self._delays_left = marker, seconds, times

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if tasks:  # closed sockets end the relays; cancel only what is still stuck
            _, stuck = await asyncio.wait(tasks, timeout=2)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        ready.set()
        self._loop.run_forever()

    async def _gate(self) -> None:
        while time.monotonic() < self._stalled_until:  # noqa: ASYNC110  # the stall is timed
            await asyncio.sleep(0.01)
        if self._latency:
            await asyncio.sleep(self._latency)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.add(client_w)
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            self._writers.discard(client_w)
            return
        self._writers.add(server_w)
        armed = [False]

        async def upstream() -> None:
            while data := await client_r.read(65536):
                if self._delay_marker and self._delays_left > 0 and self._delay_marker in data:
                    self._delays_left -= 1
                    await asyncio.sleep(self._delay)
                    self.delays_done += 1
                elif self._cut_marker and self._cuts_left > 0 and self._cut_marker in data:
                    armed[0] = True
                await self._gate()
                server_w.write(data)
                await server_w.drain()

        async def downstream() -> None:
            while data := await server_r.read(65536):
                await self._gate()
                if armed[0]:
                    self._cuts_left -= 1
                    self.cuts_done += 1
                    return  # the reply is lost: close both ends
                client_w.write(data)
                await client_w.drain()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in (client_w, server_w):
                writer.close()
                self._writers.discard(writer)
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
