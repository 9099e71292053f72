"""The operator's commands of the ``asyncjobs`` command line: ``info``, ``jobs``, ``job``,
``workers``, ``dead``, ``cancel``, ``retry``, ``pause``, ``resume``. Each parses its options,
calls ``admin.Admin`` and renders what it returns: rich tables for people, one JSON document
with ``--json`` for scripts.

Errors are one line on stderr: exit code 1 when a queue or job is not found (or the job is in
no state for the action), 2 for a bad option or URL, or a server that cannot be reached.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import anyio
import msgspec
import typer
from redis.exceptions import RedisError
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .admin import LISTED, Admin, DeadRow, JobDetail, JobSummary, NotAllowed, NotFound, QueueSummary
from .config import DEFAULT_REDIS_URL, redis_url_from_env
from .connection import UNREACHABLE
from .errors import ConfigError
from .redact import redact_url

T = TypeVar("T")

NOT_FOUND = 1
USAGE = 2
BAR_WIDTH = 10

Url = Annotated[str | None, typer.Option(
    "--url", metavar="URL",
    help=f"The Redis server (default: $ASYNCJOBS_REDIS_URL, else {DEFAULT_REDIS_URL}).",
)]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document (see the README).")]
QueueArg = Annotated[str, typer.Argument(metavar="QUEUE", help="The queue's name.")]
JobIdArg = Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's id.")]


def _error(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def run_admin(url: str | None, action: Callable[[Admin], Awaitable[T]]) -> T:
    """Run ``action`` on an ``Admin`` of ``url``; every failure becomes one line and an exit."""
    url = url or redis_url_from_env() or DEFAULT_REDIS_URL

    async def main() -> T:
        async with Admin(url) as admin:
            return await action(admin)

    try:
        return anyio.run(main)
    except (NotFound, NotAllowed) as exc:
        raise _error(str(exc), NOT_FOUND) from None
    except ConfigError as exc:
        raise _error(str(exc), USAGE) from None
    except UNREACHABLE as exc:
        raise _error(f"cannot reach Redis at {redact_url(url)}: {exc}", USAGE) from None
    except RedisError as exc:  # refused by the server: authentication, ACL, wrong kind of server
        raise _error(f"Redis at {redact_url(url)}: {type(exc).__name__}: {exc}", USAGE) from None


def _print_json(document: dict[str, Any]) -> None:
    typer.echo(msgspec.json.encode(document).decode())


def _when(ts: float | None, *, short: bool = False) -> str:
    """A Unix time in local time; ``short``: without the year and milliseconds (tables)."""
    if ts is None:
        return "-"
    at = datetime.datetime.fromtimestamp(ts).astimezone()
    if not short:
        return at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    today = datetime.datetime.now().astimezone().date()
    return at.strftime("%H:%M:%S" if at.date() == today else "%m-%d %H:%M")


def _ago(ts: float) -> str:
    seconds = max(0.0, time.time() - ts)
    return f"{seconds:.1f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def _bar(value: int, top: int) -> Text:
    filled = round(BAR_WIDTH * value / top) if top else 0
    if value and not filled:
        filled = 1
    return Text("━" * filled, style="cyan") + Text("─" * (BAR_WIDTH - filled), style="grey35")


def _table(**options: Any) -> Table:
    return Table(box=box.SIMPLE_HEAD, title_justify="left", title_style="bold", pad_edge=False,
                 collapse_padding=True, **options)


def _count(value: int, style: str) -> Text:
    return Text(f"{value:,}", style=style if value else "dim")


def info(
    queues: Annotated[list[str] | None, typer.Argument(
        metavar="[QUEUE]...", help="The queues to show (default: every known queue).")] = None,
    url: Url = None,
    json: Json = False,
) -> None:
    """Every queue (or the ones named): jobs in each state, workers, paused, jobs/s."""
    rows = run_admin(url, lambda admin: admin.info(queues or ()))
    if json:
        _print_json({"queues": rows})
        return
    console = Console()
    if not rows:
        console.print("no queues yet (a queue is listed once a worker serves it or a job is enqueued)")
        return
    console.print(_info_table(rows))


def _info_table(rows: list[QueueSummary]) -> Table:
    table = _table(title="queues")
    for name in ("queue", "pending", "", "sched", "wait", "run", "done", "failed", "dead",
                 "cancel", "workers", "jobs/s"):
        table.add_column(name, justify="left" if name in ("queue", "") else "right",
                         no_wrap=True, width=BAR_WIDTH if name == "" else None)
    top = max(row.pending for row in rows)
    for row in rows:
        label = Text(row.name, style="bold")
        if row.paused:
            label += Text(" paused", style="yellow")
        table.add_row(
            label, f"{row.pending:,}", _bar(row.pending, top), _count(row.scheduled, "blue"),
            _count(row.waiting, "blue"), _count(row.running, "cyan"), _count(row.complete, "green"),
            _count(row.failed, "red"),
            _count(row.dead, "magenta"), _count(row.cancelled, "yellow"),
            Text(str(row.workers), style="green" if row.workers else "red"),
            f"{row.jobs_per_second:.1f}",
        )
    return table


_STATUS_STYLE = {"queued": "white", "scheduled": "blue", "running": "cyan", "complete": "green",
                 "failed": "red", "dead": "magenta", "cancelled": "yellow", "expired": "yellow"}


def jobs(
    queue: QueueArg,
    status: Annotated[str, typer.Option(help=f"One of {', '.join(LISTED)}.")] = "queued",
    limit: Annotated[int, typer.Option(min=1, help="Jobs shown, at most.")] = 20,
    task: Annotated[str | None, typer.Option(help="Only jobs of this task.")] = None,
    url: Url = None,
    json: Json = False,
) -> None:
    """The jobs of a queue in one state: waiting ones oldest first, failed and dead newest first."""
    rows = run_admin(url, lambda admin: admin.jobs(queue, status, limit=limit, task=task))
    if json:
        _print_json({"queue": queue, "status": status, "jobs": rows})
        return
    Console().print(_jobs_table(queue, status, rows))


def _jobs_table(queue: str, status: str, rows: list[JobSummary]) -> Table:
    table = _table(title=f"{queue}: {status} jobs ({len(rows)})")
    for name in ("id", "task", "status", "tries", "prio", "enqueued", "finished"):
        table.add_column(name, justify="right" if name in ("tries", "prio") else "left",
                         no_wrap=True)
    table.add_column("error", overflow="fold", ratio=1)
    for row in rows:
        table.add_row(row.id, row.task, Text(row.status, style=_STATUS_STYLE.get(row.status, "")),
                      str(row.attempts), str(row.priority), _when(row.enqueued_at, short=True),
                      _when(row.finished_at, short=True),
                      Text(row.error or "", style="red"))
    return table


def job(queue: QueueArg, job_id: JobIdArg, url: Url = None, json: Json = False) -> None:
    """One job: its record, its arguments, its result or its error with the traceback."""
    detail = run_admin(url, lambda admin: admin.job(queue, job_id))
    if json:
        _print_json({"job": detail})
        return
    _print_job(Console(), detail)


def _print_job(console: Console, d: JobDetail) -> None:
    table = _table(show_header=False, title=f"job {d.id}")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    args = msgspec.json.encode(d.args).decode() if d.args is not None else "(not kept)"
    for key, value in (
        ("queue", Text(d.queue)), ("task", Text(d.task)),
        ("status", Text(d.status, style=_STATUS_STYLE.get(d.status, ""))),
        ("attempts", Text(str(d.attempts))), ("priority", Text(str(d.priority))),
        ("enqueued", Text(_when(d.enqueued_at))), ("started", Text(_when(d.started_at))),
        ("finished", Text(_when(d.finished_at))), ("args", Text(args)),
    ):
        table.add_row(key, value)
    if d.expires_at is not None:
        table.add_row("expires", _when(d.expires_at))
    if d.progress is not None:
        table.add_row("progress", Text(f"{d.progress:.0%}"
                                       + (f"  {d.progress_message}" if d.progress_message else "")))
    if d.failure is not None:
        table.add_row("error", Text(f"{d.failure.type}: {d.failure.message}", style="red"))
    elif d.error is not None:
        table.add_row("last error", Text(d.error, style="red"))
    elif d.status == "complete":
        table.add_row("result", Text(msgspec.json.encode(d.result).decode(), style="green"))
    console.print(table)
    if d.failure is not None and d.failure.traceback:
        console.print(Text(d.failure.traceback.rstrip(), style="red"))
    if d.logs:
        console.print(Text(f"log ({len(d.logs)} lines)", style="bold"))
        for entry in d.logs:
            console.print(Text(f"{_when(entry.at)}  ", style="dim") + Text(entry.line))


def workers(
    queue: Annotated[str | None, typer.Argument(
        metavar="[QUEUE]", help="Only this queue's workers (default: every queue's).")] = None,
    url: Url = None,
    json: Json = False,
) -> None:
    """The registered workers: id, host, pid, queues, alive, jobs running, started, last
    heartbeat."""
    rows = run_admin(url, lambda admin: admin.workers(queue))
    if json:
        _print_json({"workers": rows})
        return
    table = _table(title=f"workers ({len(rows)})")
    for name in ("queue", "id", "host", "pid", "queues", "alive", "running", "started",
                 "last heartbeat"):
        table.add_column(name, justify="right" if name in ("pid", "running") else "left")
    for row in rows:
        table.add_row(row.queue, row.id, row.host or "-", str(row.pid or "-"),
                      ", ".join(row.queues) or "-",
                      Text("yes", style="green") if row.alive else Text("no", style="red"),
                      str(row.running), _when(row.started, short=True), _ago(row.last_beat))
    Console().print(table)


def dead(
    queue: QueueArg,
    requeue: Annotated[bool, typer.Option(
        "--requeue", help="Put the dead-lettered jobs back on the queue, oldest first.")] = False,
    purge: Annotated[bool, typer.Option("--purge", help="Delete every dead letter.")] = False,
    limit: Annotated[int | None, typer.Option(
        min=1, help="Dead letters shown (default 20), or requeued (default: all).")] = None,
    url: Url = None,
    json: Json = False,
) -> None:
    """The dead letters of a queue, newest first; or requeue or purge them."""
    if requeue and purge:
        raise _error("--requeue and --purge exclude each other", USAGE)
    if requeue:
        n = run_admin(url, lambda admin: admin.requeue_dead(queue, limit=limit))
        _done(json, {"queue": queue, "requeued": n}, f"{queue}: {n} dead-lettered jobs requeued")
        return
    if purge:
        n = run_admin(url, lambda admin: admin.purge_dead(queue))
        _done(json, {"queue": queue, "purged": n}, f"{queue}: {n} dead letters deleted")
        return
    rows = run_admin(url, lambda admin: admin.dead(queue, limit=limit or 20))
    if json:
        _print_json({"queue": queue, "dead_letters": rows})
        return
    Console().print(_dead_table(queue, rows))


def _dead_table(queue: str, rows: list[DeadRow]) -> Table:
    table = _table(title=f"{queue}: dead letters ({len(rows)})")
    for name in ("job id", "task", "reason", "worker", "at"):
        table.add_column(name, no_wrap=True)
    table.add_column("message", overflow="fold", ratio=1)
    for row in rows:
        table.add_row(row.job_id or "-", row.task or "-", Text(row.reason, style="magenta"),
                      row.worker_id, _when(row.at, short=True), row.message)
    return table


def _done(json: bool, document: dict[str, Any], text: str) -> None:
    if json:
        _print_json(document)
    else:
        Console().print(text)


def cancel(queue: QueueArg, job_id: JobIdArg, url: Url = None, json: Json = False) -> None:
    """Cancel a job that has not finished (a running async task is stopped on its worker)."""
    row = run_admin(url, lambda admin: admin.cancel(queue, job_id))
    _done(json, {"queue": queue, "job": row}, f"{queue}: job {job_id} cancelled")


def retry(queue: QueueArg, job_id: JobIdArg, url: Url = None, json: Json = False) -> None:
    """Enqueue a failed or dead-lettered job again with its original arguments."""
    row = run_admin(url, lambda admin: admin.retry(queue, job_id))
    _done(json, {"queue": queue, "job": row}, f"{queue}: job {job_id} enqueued again")


def pause(queue: QueueArg, url: Url = None, json: Json = False) -> None:
    """Start no new job of a queue until it is resumed (running jobs finish)."""
    run_admin(url, lambda admin: admin.pause(queue))
    _done(json, {"queue": queue, "paused": True}, f"{queue}: paused")


def resume(queue: QueueArg, url: Url = None, json: Json = False) -> None:
    """Start jobs of a paused queue again."""
    run_admin(url, lambda admin: admin.resume(queue))
    _done(json, {"queue": queue, "paused": False}, f"{queue}: resumed")


COMMANDS = (info, jobs, job, workers, dead, cancel, retry, pause, resume)


def register(app: typer.Typer) -> None:
    """Add the operator's commands to ``app``."""
    for command in COMMANDS:
        app.command()(command)
