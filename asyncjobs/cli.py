"""The ``asyncjobs`` command line: parses options and calls the library, nothing more."""

from __future__ import annotations

from typing import Annotated

import anyio
import typer

from . import cli_admin
from ._version import __version__
from .errors import ConfigError, ServerError
from .loader import load_queue
from .logs import LOG_FORMATS
from .logs import configure as configure_logging
from .loops import event_loop
from .metrics import serve_metrics

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

app: typer.Typer = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="asyncjobs: a fast, reliable, typed asyncio job queue on Redis.",
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"asyncjobs {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit.",
    )] = False,
) -> None:
    pass


@app.command()
def worker(
    ctx: typer.Context,
    targets: Annotated[list[str], typer.Argument(
        metavar="TARGET...",
        help="The queues to serve, as module:attribute; several are taken in the order given.",
    )],
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Jobs run at once, at most.")
    ] = 100,
    burst: Annotated[bool, typer.Option(
        help="Exit 0 once the queue is empty and no job runs. Retries and delayed jobs still "
        "scheduled then are left for a later worker (see --wait-scheduled).",
    )] = False,
    wait_scheduled: Annotated[float, typer.Option(
        min=0.0, metavar="SECONDS",
        help="With --burst: before exiting, also wait for retries and delayed jobs due within "
        "this many seconds.",
    )] = 0.0,
    grace: Annotated[
        float, typer.Option(help="Seconds running jobs get to finish on SIGTERM/SIGINT.")
    ] = 25.0,
    app_dir: Annotated[str, typer.Option(help="Directory put first on sys.path.")] = ".",
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    worker_id: Annotated[
        str | None,
        typer.Option(help="This worker's id, [A-Za-z0-9_.-]{1,128} (default: host-pid-random)."),
    ] = None,
    balance: Annotated[bool, typer.Option(
        help="With several queues: spread the fetches evenly between them instead of taking "
        "them in the order given.",
    )] = False,
    reload: Annotated[bool, typer.Option(
        "--reload", help="Restart the worker when a Python file under --app-dir changes (for "
        "development; needs the reload extra).",
    )] = False,
    log_format: Annotated[str, typer.Option(
        help="plain, or json: one JSON object per line (time, level, logger, message, and the "
        "job's queue, task, job_id, attempt, duration, outcome).",
    )] = "plain",
    metrics_port: Annotated[int | None, typer.Option(
        min=0, max=65535, metavar="PORT",
        help="Serve Prometheus metrics of this worker on this port (needs the extra "
        "asyncjobs-redis[metrics]); with --processes N, worker process i serves them on "
        "PORT+i.",
    )] = None,
    processes: Annotated[int, typer.Option(
        "--processes", metavar="N",
        help="Run N worker processes under one supervisor, each with its own worker id, "
        "heartbeat and lease; a process that dies is restarted.",
    )] = 1,
    loop: Annotated[str, typer.Option(
        help="The event loop: auto (uvloop when it is installed, as with the extra "
        "asyncjobs-redis[uvloop]; else asyncio's), uvloop, or asyncio.",
    )] = "auto",
    supervised: Annotated[bool, typer.Option(
        "--supervised", hidden=True,
        help="Stop gracefully when stdin, the supervisor's pipe, reaches end-of-file.",
    )] = False,
) -> None:
    """Run jobs of one or more queues until stopped (SIGINT/SIGTERM stop it gracefully)."""
    from .worker import Worker

    level = log_level.upper()
    backend = _check_options(log_level, log_format, processes, loop,
                             wait_scheduled=bool(wait_scheduled), burst=burst)
    if processes > 1:
        _supervise(ctx, processes, level=level, log_format=log_format, reload=reload, grace=grace,
                   worker_id=worker_id, metrics_port=metrics_port)
        return
    if reload:
        from .reload import run_with_reload

        try:
            run_with_reload(ctx, targets, app_dir=app_dir, grace=grace)
        except ConfigError as exc:
            raise _fail(str(exc)) from None
        return
    try:
        queues = [load_queue(target, app_dir) for target in targets]
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    configure_logging(level, log_format)
    try:
        runner = Worker(queues, concurrency=concurrency, burst=burst, burst_wait=wait_scheduled,
                        grace=grace, handle_signals=True, worker_id=worker_id, balance=balance)
        if metrics_port is not None:
            runner.observer = serve_metrics(lambda: runner.running, metrics_port)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if supervised:
        from .supervisor import stop_when_orphaned

        anyio.run(stop_when_orphaned, runner.run, runner.stop, backend_options=backend)
    else:
        anyio.run(runner.run, backend_options=backend)


def _check_options(log_level: str, log_format: str, processes: int, loop: str, *,
                   wait_scheduled: bool, burst: bool) -> dict[str, bool]:
    """Refuse a bad option with one line; anyio's backend options for ``--loop``."""
    if log_level.upper() not in LOG_LEVELS:
        raise _fail(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    if wait_scheduled and not burst:
        raise _fail("--wait-scheduled applies to a --burst worker only")
    if log_format not in LOG_FORMATS:
        raise _fail(f"--log-format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    if processes < 1:
        raise _fail(f"--processes must be at least 1, got {processes}")
    try:
        return event_loop(loop)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _supervise(ctx: typer.Context, processes: int, *, level: str, log_format: str, reload: bool,
               grace: float, worker_id: str | None, metrics_port: int | None) -> None:
    from .reload import child_argv
    from .supervisor import Supervisor, worker_commands

    if reload:
        raise _fail("--reload runs one worker process: leave out --processes, or give "
                    "--processes 1")
    if metrics_port and metrics_port + processes - 1 > 65535:
        raise _fail(f"--metrics-port {metrics_port} with --processes {processes} needs ports "
                    f"up to {metrics_port + processes - 1}, past 65535")
    configure_logging(level, log_format)
    argv = child_argv(ctx, skip=("processes", "worker_id", "metrics_port"))
    commands = worker_commands(argv, worker_id=worker_id, metrics_port=metrics_port)
    supervisor = Supervisor(commands, processes, grace=grace)
    code = anyio.run(supervisor.run)
    if supervisor.problem is not None:
        typer.echo(f"error: {supervisor.problem}", err=True)
    raise typer.Exit(code)


cli_admin.register(app)  # info, jobs, job, workers, dead, cancel, retry, pause, resume


@app.command()
def demo(
    jobs: Annotated[int, typer.Option(min=1, help="How many jobs to run.")] = 300,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Jobs the demo's worker runs at once.")
    ] = 50,
) -> None:
    """Run a worker and a producer with realistic jobs, and show what happened to each kind."""
    from .demo import run_demo

    try:
        run_demo(jobs=jobs, concurrency=concurrency)
    except ServerError as exc:
        raise _fail(str(exc)) from None


@app.command()
def dashboard(
    host: Annotated[str, typer.Option(help="Interface to listen on; other than loopback needs --token.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    read_only: Annotated[bool, typer.Option(help="Hide and refuse every action.")] = False,
    token: Annotated[str | None, typer.Option(
        envvar="ASYNCJOBS_DASHBOARD_TOKEN", help="Ask for this token on every page.")] = None,
    url: Annotated[str | None, typer.Option(
        help="The Redis URL (default: $ASYNCJOBS_REDIS_URL, else redis://localhost:6379/0).")] = None,
) -> None:
    """Serve the web dashboard: queues, jobs, workers, dead letters, schedules, /metrics."""
    from .dashboard._serve import serve

    try:
        serve(host=host, port=port, read_only=read_only, token=token, redis_url=url)
    except (ConfigError, ImportError) as exc:
        raise _fail(str(exc)) from None


def main() -> None:
    app()
