"""``asyncjobs worker --reload``: run the worker in a child process, and start it anew when a
Python file under the app directory changes (with watchfiles, the ``reload`` extra).

The child is the same ``asyncjobs worker`` command without ``--reload``. A restart stops it as
SIGINT does (running jobs get ``--grace`` seconds to finish, the rest go back to the queue),
then starts it again. For development: a restart drops nothing, but waits for running jobs.
"""

from __future__ import annotations

import importlib.util
import math
import shlex
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

import typer

from .errors import ConfigError

MISSING = "--reload needs watchfiles: pip install 'asyncjobs-redis[reload]'"


def child_argv(ctx: typer.Context, *, skip: Collection[str] = ("reload",)) -> list[str]:
    """The command line of ``ctx``'s command as parsed, without the options named in
    ``skip``: options that differ from their defaults, then ``--`` and the arguments."""
    options: list[str] = []
    arguments: list[str] = []
    params: list[Any] = list(ctx.command.params)
    for param in params:
        value = ctx.params.get(param.name or "")
        if param.name in skip:
            continue
        if param.param_type_name == "argument":
            arguments += [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
            continue
        if param.param_type_name != "option" or value is None or value == param.default:
            continue
        if param.is_flag:
            flags: list[str] = param.opts if value else param.secondary_opts
            options += flags[:1]
        else:
            options += [param.opts[0], str(value)]
    return [ctx.info_name or "worker", *options, "--", *arguments]


def outside(targets: list[str], root: Path) -> list[tuple[str, str]]:
    """The targets whose module is found outside ``root`` (with ``root`` first on sys.path):
    (target, the module's file)."""
    found: list[tuple[str, str]] = []
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    for target in targets:
        module = target.partition(":")[0]
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue  # the worker says so, with its own message
        origin = spec.origin if spec is not None else None
        if origin and Path(origin).is_file() and not Path(origin).resolve().is_relative_to(root):
            found.append((target, origin))
    return found


def run_with_reload(ctx: typer.Context, targets: list[str], *, app_dir: str, grace: float) -> None:
    """Run the worker of ``ctx`` in a child process until stopped, anew after each change of a
    Python file under ``app_dir``. Raises ``ConfigError`` when watchfiles is missing."""
    try:
        import watchfiles
    except ImportError:
        raise ConfigError(MISSING) from None
    root = Path(app_dir).resolve()
    if not root.is_dir():
        raise ConfigError(f"--app-dir {app_dir} is not a directory")
    typer.echo(f"--reload: watching {root} for changes to Python files", err=True)
    for target, origin in outside(targets, root):
        typer.echo(f"--reload: {target} is defined in {origin}, outside {root}: changes there do "
                   "not restart the worker (give --app-dir to watch its directory)", err=True)
    command = [sys.executable, "-m", "asyncjobs", *child_argv(ctx)]

    def restarted(changes: set[tuple[watchfiles.Change, str]]) -> None:
        paths = sorted({Path(path).name for _, path in changes})
        typer.echo(f"--reload: {', '.join(paths)} changed; restarting the worker", err=True)

    watchfiles.run_process(
        root, target=shlex.join(command), target_type="command", callback=restarted,
        watch_filter=watchfiles.PythonFilter(), sigint_timeout=math.ceil(grace) + 5,
        sigkill_timeout=5,
    )
