"""What the case-by-case benchmarks share: a throwaway server for the whole run, and the order
of the cases in each round (reversed every other round, so drift over time favours none)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from asyncjobs.server import RedisServer

T = TypeVar("T")


def in_turn(cases: Sequence[T], run: int) -> list[T]:
    """The cases in the order round ``run`` takes them."""
    return list(cases) if run % 2 == 0 else list(cases)[::-1]


def on_own_server(main: Callable[[argparse.Namespace, str], Awaitable[None]],
                  args: argparse.Namespace) -> None:
    """Run ``main(args, url)`` against a redis-server of its own, on a free loopback port."""
    server = RedisServer().start()
    try:
        asyncio.run(main(args, server.url))
    finally:
        server.cleanup()
