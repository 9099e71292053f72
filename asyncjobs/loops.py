"""The worker command's event loop: uvloop's when it is installed (the optional extra
``uvloop``), else asyncio's; ``--loop`` chooses."""

from __future__ import annotations

import importlib.util

from .errors import ConfigError

LOOPS = ("auto", "uvloop", "asyncio")
MISSING_EXTRA = "--loop uvloop needs uvloop: pip install 'asyncjobs-redis[uvloop]'"


def event_loop(name: str) -> dict[str, bool]:
    """anyio's ``backend_options`` for the loop ``name`` (one of ``LOOPS``)."""
    if name not in LOOPS:
        raise ConfigError(f"--loop must be one of {', '.join(LOOPS)}, got {name!r}")
    if name == "asyncio":
        return {"use_uvloop": False}
    installed = importlib.util.find_spec("uvloop") is not None
    if name == "uvloop" and not installed:
        raise ConfigError(MISSING_EXTRA)
    return {"use_uvloop": installed}
