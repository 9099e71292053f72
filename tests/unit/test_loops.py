"""``asyncjobs worker --loop``: which event loop each choice gives, and the one-line errors."""

from __future__ import annotations

import importlib.util

import pytest

from asyncjobs.errors import ConfigError
from asyncjobs.loops import event_loop


def test_each_choice_gives_its_loop_and_auto_takes_uvloop_when_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert event_loop("asyncio") == {"use_uvloop": False}
    installed = importlib.util.find_spec("uvloop") is not None
    assert event_loop("auto") == {"use_uvloop": installed}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # as without the extra
    assert event_loop("auto") == {"use_uvloop": False}
    with pytest.raises(ConfigError, match=r"--loop uvloop needs uvloop: pip install "
                                          r"'asyncjobs-redis\[uvloop\]'"):
        event_loop("uvloop")
    with pytest.raises(ConfigError, match="--loop must be one of auto, uvloop, asyncio, got 'x'"):
        event_loop("x")
