"""Resolve a ``module:attribute`` CLI target to a Queue (the only dynamic import here)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from .errors import ConfigError
from .queue import Queue


def load_queue(target: str, app_dir: str = ".") -> Queue:
    """Import ``module:attr[.attr]`` and return the Queue it names.

    A missing colon, a module that cannot be found, a missing attribute or an object that is
    not a Queue raise ``ConfigError`` with one clear line. An ImportError raised inside the
    user's own module propagates unchanged, with its traceback.
    """
    module_name, colon, attr_path = target.partition(":")
    if not colon or not module_name or not attr_path:
        raise ConfigError(f"expected 'module:attribute' (for example app:queue), got {target!r}")
    path = str(Path(app_dir).resolve())
    if path not in sys.path:
        sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise ConfigError(f"cannot import {module_name!r}: no module named {missing!r}") from None
        raise
    obj: object = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"module {module_name!r} has no attribute {attr_path!r}") from None
    if not isinstance(obj, Queue):
        kind = type(obj).__name__
        article = "an" if kind[0].lower() in "aeiou" else "a"
        raise ConfigError(f"{target} is {article} {kind}, not an asyncjobs.Queue")
    return obj
