"""The dashboard served for real (uvicorn on a free loopback port, in a thread of its own) and
headless Chromium driven by Playwright: what the browser tests share."""

from __future__ import annotations

import shutil
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from asyncjobs.server import free_port

from .waiting import wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="chromium is not installed (apt-get install chromium; .ci/run installs it)",
)


class LiveDashboard:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                ws="none", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[LiveDashboard]:
    live = LiveDashboard(app)
    live.thread.start()
    try:
        await wait_until(lambda: live.server.started, 15, "the dashboard to listen")
        yield live
    finally:
        live.server.should_exit = True
        await wait_until(lambda: not live.thread.is_alive(), 15, "the dashboard to stop")


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium (the system's: Playwright downloads nothing) and a fresh page."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport={"width": 1360, "height": 860})
            page = await context.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            await browser.close()
