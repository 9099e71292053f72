"""Waiting on a condition with a deadline: tests never sleep to synchronize."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import anyio
import pytest


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "",
                     dump: Callable[[], Any] | None = None) -> None:
    """Poll a sync or async predicate every 20 ms until it holds. At the deadline, fail with
    ``what`` and the text of ``dump()`` (sync or async: what each list holds, the workers' logs)."""
    with anyio.move_on_after(timeout):
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return
            await anyio.sleep(0.02)
    text = dump() if dump else ""
    if inspect.isawaitable(text):
        text = await text
    pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}\n{text}".rstrip())


async def holds_for(predicate: Callable[[], Any], seconds: float, what: str = "") -> None:
    """Check a sync or async predicate every 20 ms for ``seconds``, failing the first time it
    does not hold: the proof that something does not happen (a paused queue starts nothing)."""
    with anyio.move_on_after(seconds):
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if not value:
                pytest.fail(f"no longer holds: {what or predicate}")
            await anyio.sleep(0.02)
