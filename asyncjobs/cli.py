"""The ``asyncjobs`` command line: parses options and calls the library, nothing more."""

from __future__ import annotations

import logging
from typing import Annotated

import anyio
import typer

from .errors import ConfigError
from .loader import load_queue

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="asyncjobs: a fast, reliable, typed asyncio job queue on Redis.",
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@app.command()
def worker(
    target: Annotated[str, typer.Argument(help="The queue to serve, as module:attribute.")],
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1)] = 100,
    burst: Annotated[bool, typer.Option(help="Exit 0 once the queue is empty.")] = False,
    grace: Annotated[
        float, typer.Option(help="Seconds running jobs get to finish on SIGTERM/SIGINT.")
    ] = 25.0,
    app_dir: Annotated[str, typer.Option(help="Directory put first on sys.path.")] = ".",
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    worker_id: Annotated[
        str | None,
        typer.Option(help="This worker's id, [A-Za-z0-9_.-]{1,128} (default: host-pid-random)."),
    ] = None,
) -> None:
    """Run jobs of a queue until stopped (SIGINT/SIGTERM stop it gracefully)."""
    from .worker import Worker

    try:
        queue = load_queue(target, app_dir)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        runner = Worker(queue, concurrency=concurrency, burst=burst, grace=grace,
                        handle_signals=True, worker_id=worker_id)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    anyio.run(runner.run)


@app.command()
def demo(
    jobs: Annotated[int, typer.Option(min=1, help="How many jobs to run.")] = 300,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1)] = 50,
) -> None:
    """Run a worker and a producer with realistic jobs, and show the figures."""
    from .demo import run_demo

    try:
        run_demo(jobs=jobs, concurrency=concurrency)
    except RuntimeError as exc:
        raise _fail(str(exc)) from None


def main() -> None:
    app()
