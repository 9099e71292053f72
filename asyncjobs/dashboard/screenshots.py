"""Screenshots of every dashboard page and of the CLI, for the docs:
``python -m asyncjobs.dashboard.screenshots`` (or ``nox -s screenshots``) writes
``docs/screenshots/*.png``.

It starts a throwaway server, runs a worker over two sample queues with jobs that complete,
fail, wait and die, serves the dashboard on a free loopback port and photographs each page in
headless Chromium (the system's ``chromium``, driven by Playwright: nothing is downloaded). The
hour of history before this run is filled with sample counts so the charts have a shape. Then
it runs ``asyncjobs info`` and ``asyncjobs jobs`` against the same server, in color, and
photographs their output as a terminal shows it (``cli.png``).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import shutil
import sys
import threading
import time
from pathlib import Path

from ..protocol import MINUTE_TTL
from ..queue import Queue
from ..server import RedisServer, free_port
from ..worker import Worker

PAGES: dict[str, str | None] = {
    "overview": "/",
    "queue": "/queues/emails?state=running",
    "failed-jobs": "/queues/emails?state=failed",
    "job": None,  # the failed job's page, found at run time
    "workers": "/workers",
    "dead-letters": "/dead",
    "schedules": "/schedules",
}
CLI_COMMANDS = (("info",), ("jobs", "emails", "--status", "failed"))
"""The commands of ``cli.png``, run against the sample server."""
CLI_COLUMNS = 112


async def _cli_html(url: str) -> str:
    """The CLI commands' output, in color, as the HTML page of a terminal."""
    from rich.console import Console
    from rich.terminal_theme import MONOKAI
    from rich.text import Text

    console = Console(record=True, width=CLI_COLUMNS, file=io.StringIO(), force_terminal=True)
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": str(CLI_COLUMNS),
           "ASYNCJOBS_REDIS_URL": url}
    for args in CLI_COMMANDS:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "asyncjobs", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        console.print(Text("$ asyncjobs " + " ".join(args), style="bold"))
        console.print(Text.from_ansi(out.decode()))
    return console.export_html(theme=MONOKAI, inline_styles=True)


def _sample_queues(url: str) -> tuple[Queue, Queue, Queue]:
    emails = Queue("emails", url)
    reports = Queue("reports", url)

    @emails.task(name="emails.send")
    async def send(to: str, subject: str) -> dict[str, str]:
        if to.startswith("bounce"):
            raise ConnectionRefusedError(f"SMTP server refused {to}")
        await asyncio.sleep(0.05)
        return {"to": to, "status": "sent"}

    @emails.task(name="emails.digest")
    async def digest(user_id: int) -> int:
        await asyncio.sleep(30)
        return user_id

    @reports.task(name="reports.build")
    async def build(customer_id: int, month: str) -> str:
        await asyncio.sleep(0.02)
        return f"report-{customer_id}-{month}.pdf"

    unknown = Queue("reports", url)  # a producer that knows a task no worker has

    @unknown.task(name="reports.legacy_export")
    async def legacy(customer_id: int) -> None: ...

    return emails, reports, unknown


async def _history(queue: Queue, seed: int) -> None:
    """Sample per-minute counts for the hour before now (what ``finish.lua`` would have kept)."""
    rng = random.Random(seed)
    now = int(time.time()) // 60
    async with queue.redis.pipeline(transaction=False) as pipe:
        for minute in range(now - 59, now):
            pipe.hset(queue.keys.minute(minute), mapping={
                "complete": rng.randint(20, 60) + (minute % 7) * 5, "failed": rng.choice([0, 0, 1, 2, 4]),
                "cancelled": rng.choice([0, 0, 0, 1]), "dead": rng.choice([0, 0, 0, 0, 0, 1])})
            pipe.expire(queue.keys.minute(minute), MINUTE_TTL)
        await pipe.execute()


async def _prepare(url: str) -> tuple[list[Queue], Worker, str]:
    emails, reports, unknown = _sample_queues(url)
    send, digest = emails.tasks["emails.send"], emails.tasks["emails.digest"]
    build = reports.tasks["reports.build"]
    for n in range(12):
        await send.delay(f"user{n}@example.com", "Welcome")
    failed = await send.delay("bounce@example.com", "Welcome")
    for n in range(3):
        await unknown.tasks["reports.legacy_export"].delay(n)
    for n in range(20):
        await build.delay(1000 + n, "2026-11")
    await emails.schedule("weekly-digest", digest.call(0), cron="0 8 * * 1", tz="Europe/Paris")
    await reports.schedule("month-end", build.call(0, "current"), every=3600.0)
    await _history(emails, 1)
    await _history(reports, 2)
    worker = Worker([emails, reports], concurrency=8, worker_id="web-1")
    return [emails, reports, unknown], worker, failed.id


async def _settle(emails: Queue) -> None:
    digest = emails.tasks["emails.digest"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        counts = await emails.inspect.counts()
        if counts.pending == 0 and counts.failed >= 1:
            break
        await asyncio.sleep(0.1)
    for n in range(3):  # jobs to see running and waiting
        await digest.delay(n)
    await digest.options(delay=600).delay(99)


async def _photograph(base: str, out: Path, failed_id: str, chromium: str,
                      cli_html: str) -> list[Path]:
    from playwright.async_api import async_playwright

    written = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1360, "height": 760})
        for name, path in PAGES.items():
            await page.goto(base + (path or f"/queues/emails/jobs/{failed_id}"))
            await page.wait_for_load_state("networkidle")
            target = out / f"{name}.png"
            await page.screenshot(path=str(target), full_page=True)
            written.append(target)
        # a page of its own: the dashboard's Content-Security-Policy refuses inline styles
        page = await browser.new_page(viewport={"width": 1000, "height": 200})
        await page.set_content(cli_html)
        target = out / "cli.png"
        await page.screenshot(path=str(target), full_page=True)
        written.append(target)
        await browser.close()
    return written


async def _run(out: Path, chromium: str) -> list[Path]:
    import uvicorn

    from . import create_app

    server = RedisServer().start()
    try:
        queues, worker, failed_id = await _prepare(server.url)
        run = asyncio.create_task(worker.run())
        await _settle(queues[0])
        port = free_port()
        web = uvicorn.Server(uvicorn.Config(create_app(server.url), host="127.0.0.1", port=port,
                                            log_level="warning", ws="none"))
        thread = threading.Thread(target=web.run, daemon=True)
        thread.start()
        for _ in range(300):  # up to 15 s for uvicorn to listen
            if web.started:
                break
            await asyncio.sleep(0.05)
        try:
            cli_html = await _cli_html(server.url)
            return await _photograph(f"http://127.0.0.1:{port}", out, failed_id, chromium,
                                     cli_html)
        finally:
            web.should_exit = True
            thread.join(15)
            worker.stop(now=True)
            await run
            for queue in queues:
                await queue.aclose()
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/screenshots", help="folder for the PNG files")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not Path(args.chromium).exists():
        raise SystemExit(f"error: no Chromium at {args.chromium} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        raise SystemExit("error: screenshots need playwright: pip install -e '.[test]'") from None
    for path in asyncio.run(_run(out, args.chromium)):
        print(path)


if __name__ == "__main__":
    main()
