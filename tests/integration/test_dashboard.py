"""The web dashboard end to end: a real server, real workers, the dashboard under uvicorn, and
headless Chromium clicking through every page and action."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from playwright.async_api import expect
from prometheus_client.parser import text_string_to_metric_families

from asyncjobs import Context, JobCancelled, JobState, Queue, Worker
from asyncjobs.dashboard import create_app
from asyncjobs.server import RedisServer, free_port
from tests.support.dashboard import chromium, needs_chromium, serving
from tests.support.waiting import wait_until

from .conftest import TEST_SETTINGS, running_worker

pytestmark = pytest.mark.anyio


def in_browser(test: Any) -> Any:
    """A test that drives Chromium: marked ``browser``, skipped (saying why) without it."""
    return pytest.mark.browser(needs_chromium(test))

@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """A server of this module's own: the overview lists every queue of its server."""
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.cleanup()

@pytest.fixture
async def queue(server_url: str) -> AsyncIterator[Queue]:
    q = Queue(f"d-{uuid.uuid4().hex[:10]}", server_url, settings=TEST_SETTINGS)
    yield q
    await q.aclose()

def tasks(queue: Queue) -> dict[str, Any]:
    gate = anyio.Event()

    @queue.task(name="add")
    async def add(a: int, b: int) -> int:
        return a + b

    @queue.task(name="explode")
    async def explode(what: str) -> None:
        raise ValueError(f"exploded on {what}")

    @queue.task(name="hang")
    async def hang(label: str) -> str:
        await gate.wait()
        return label

    return {"add": add, "explode": explode, "hang": hang, "gate": gate}

async def confirm(page: Any) -> None:
    """Go through an action's confirmation step."""
    await page.wait_for_selector("form.confirm")
    await page.click("#confirm")
    await page.wait_for_selector(".notice")

@in_browser
async def test_overview_counts_move_live_and_the_failed_job_shows_its_traceback(
    server_url: str, queue: Queue
) -> None:
    t = tasks(queue)
    async with serving(create_app(server_url)) as dash, chromium() as page, running_worker(queue):
        failed = await t["explode"].delay("purpose")
        await wait_until(lambda: _status(queue, failed.id, JobState.FAILED), 10, "the job to fail")
        await page.goto(dash.url + "/")
        row = page.locator(f'tr[data-queue="{queue.name}"]')
        await row.locator('[data-live="failed"]').filter(has_text="1").wait_for()
        assert await row.locator('[data-live="complete"]').inner_text() == "0"
        assert await row.locator("svg.chart rect.bad").count() == 1, "the failure is on the chart"
        # the page is not reloaded: the counter follows the jobs as they run
        for n in range(5):
            await t["add"].delay(n, n)
        await row.locator('[data-live="complete"]').filter(has_text="5").wait_for()
        await row.locator('[data-live="finished_hour"]').filter(has_text="6").wait_for()
        # the queue page, search by id, the job page with its traceback
        await page.click(f"text={queue.name}")
        await page.fill('input[name="id"]', failed.id)
        await page.click('form.filters >> text=Open')
        await page.wait_for_selector("#job-traceback")
        assert "ValueError" in await page.inner_text("#job-error")
        traceback = await page.inner_text("#job-traceback")
        assert "Traceback (most recent call last)" in traceback and "exploded on purpose" in traceback
        assert await page.inner_text("#job-status") == "failed"
        assert await page.locator("text=Cancel job").count() == 0, "a finished job has no cancel"

async def _status(queue: Queue, job_id: str, state: JobState) -> bool:
    info = await queue.inspect.job(job_id)
    return info is not None and info.status is state

@in_browser
async def test_every_page_loads_only_its_own_assets_without_errors_and_is_photographed(
    server_url: str, queue: Queue, tmp_path: Path
) -> None:
    """Each page in turn: a 200, nothing fetched from anywhere but the dashboard (it works
    offline), no error in the browser's console (scripts and styles pass the page's
    Content-Security-Policy), and a screenshot saved (in ``$ASYNCJOBS_TEST_SCREENSHOTS`` when
    set, for CI to keep; the docs' screenshots come from ``asyncjobs.dashboard.screenshots``)."""
    t = tasks(queue)
    await queue.schedule("hourly", t["add"].call(1, 2), every=3600.0)
    async with running_worker(queue):
        failed = await t["explode"].delay("on camera")
        await wait_until(lambda: _status(queue, failed.id, JobState.FAILED), 10, "the job to fail")
    pages = {
        "overview": "/", "queue": f"/queues/{queue.name}",
        "failed-jobs": f"/queues/{queue.name}?state=failed",
        "job": f"/queues/{queue.name}/jobs/{failed.id}", "workers": "/workers",
        "dead-letters": "/dead", "schedules": "/schedules",
        "confirm": f"/queues/{queue.name}/jobs/{failed.id}/retry",
    }
    out = anyio.Path(os.environ.get("ASYNCJOBS_TEST_SCREENSHOTS") or tmp_path)
    await out.mkdir(parents=True, exist_ok=True)
    async with serving(create_app(server_url)) as dash, chromium() as page:
        requested: list[str] = []
        problems: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda message: problems.append(message.text)
                if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        for name, path in pages.items():
            response = await page.goto(dash.url + path)
            assert response is not None and response.status == 200, path
            await page.wait_for_load_state("networkidle")
            shot = out / f"{name}.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert (await shot.stat()).st_size > 1000, name
    await queue.unschedule("hourly")  # the schedules page of the other tests lists theirs alone
    assert requested and all(url.startswith(dash.url + "/") for url in requested), requested
    assert any(url.endswith(".css") for url in requested) and any(url.endswith(".js") for url in requested)
    assert problems == []


@in_browser
async def test_queue_page_lists_filters_and_pages_jobs_with_their_arguments(
    server_url: str, queue: Queue
) -> None:
    t = tasks(queue)
    adds = [await t["add"].delay(n, 100) for n in range(60)]
    await t["explode"].delay("later")
    later = await t["add"].options(delay=600, priority=3).delay(7, 8)
    async with serving(create_app(server_url)) as dash, chromium() as page:
        await page.goto(f"{dash.url}/queues/{queue.name}")
        assert await page.locator("table.jobs tbody tr").count() == 50
        first = page.locator(f'tr[data-job="{adds[0].id}"]')
        assert await first.locator("code.args").inner_text() == "[0, 100]"
        await page.click("text=next page →")
        # a click starts the navigation, the expectation waits for the page it leads to
        await expect(page.locator("table.jobs tbody tr")).to_have_count(11)
        await page.fill('input[name="task"]', "explode")
        await page.click("form.filters >> text=Filter")
        await expect(page.locator("table.jobs tbody tr")).to_have_count(1)
        assert "'later'" in await page.locator("code.args").inner_text()
        await page.goto(f"{dash.url}/queues/{queue.name}?state=scheduled")
        assert await page.locator(f'tr[data-job="{later.id}"]').count() == 1
        await page.click(f'a[href$="/jobs/{later.id}"] >> nth=0')
        assert await page.inner_text("#job-args") == "[7, 8]"
        assert await page.inner_text("#job-status") == "scheduled"
        assert "3" in await page.inner_text("dl.facts")

@in_browser
async def test_cancel_a_running_job_from_its_page(server_url: str, queue: Queue) -> None:
    t = tasks(queue)
    async with serving(create_app(server_url)) as dash, chromium() as page, running_worker(queue):
        job = await t["hang"].delay("forever")
        await wait_until(lambda: _status(queue, job.id, JobState.RUNNING), 10, "the job to start")
        await page.goto(f"{dash.url}/queues/{queue.name}?state=running")
        await page.click(f'tr[data-job="{job.id}"] >> text=Cancel')
        await confirm(page)
        assert "cancelled" in await page.inner_text(".notice")
        with pytest.raises(JobCancelled):
            await job.result(timeout=10)
        await page.reload()
        assert await page.inner_text("#job-status") == "cancelled"

@in_browser
async def test_retry_a_failed_job_from_the_failed_list_and_from_its_page(
    server_url: str, queue: Queue
) -> None:
    runs: dict[str, int] = {}

    @queue.task(name="flaky")
    async def flaky(key: str) -> str:
        runs[key] = runs.get(key, 0) + 1
        if runs[key] == 1:
            raise RuntimeError(f"first run of {key}")
        return f"{key} on run {runs[key]}"

    async with serving(create_app(server_url)) as dash, chromium() as page, running_worker(queue):
        listed, opened = await flaky.delay("listed"), await flaky.delay("opened")
        for job in (listed, opened):
            await wait_until(lambda job=job: _status(queue, job.id, JobState.FAILED), 10,
                             "the job to fail")
        # the failed jobs' list: each with its arguments and a Retry button, no Cancel
        await page.goto(f"{dash.url}/queues/{queue.name}")
        await page.click("nav.tabs >> text=failed")
        row = page.locator(f'tr[data-job="{listed.id}"]')
        await expect(row.locator("code.args")).to_have_text("['listed']")
        assert await page.locator("table.jobs a.button", has_text="Cancel").count() == 0
        await row.locator("a.button", has_text="Retry").click()
        await confirm(page)
        assert "enqueued again" in await page.inner_text(".notice")
        await wait_until(lambda: _status(queue, listed.id, JobState.COMPLETE), 10, "the rerun")
        assert await queue.result(listed.id, timeout=5) == "listed on run 2"
        # a failed job's page: its arguments, a Retry button, no Cancel
        await page.goto(f"{dash.url}/queues/{queue.name}/jobs/{opened.id}")
        assert await page.inner_text("#job-args") == "['opened']"
        assert await page.locator("text=Cancel job").count() == 0
        await page.click("a.button >> text=Retry job")
        await confirm(page)  # back on the job's page
        await wait_until(lambda: _status(queue, opened.id, JobState.COMPLETE), 10, "the rerun")
        assert await queue.result(opened.id, timeout=5) == "opened on run 2"
        await page.reload()
        assert await page.inner_text("#job-status") == "complete"
        assert await page.locator("a.button >> text=Retry job").count() == 0
        response = await page.goto(f"{dash.url}/queues/{queue.name}/jobs/{opened.id}/retry")
        assert response is not None and response.status == 400, "only a failed job is retried"
        assert "only a failed job is retried" in await page.inner_text("main")
    assert runs == {"listed": 2, "opened": 2}


async def test_a_job_retried_since_its_confirmation_page_is_not_retried_twice(
    server_url: str, queue: Queue
) -> None:
    t = tasks(queue)
    failed = await t["explode"].delay("twice")
    async with running_worker(queue):
        await wait_until(lambda: _status(queue, failed.id, JobState.FAILED), 10, "the job to fail")
    async with serving(create_app(server_url)) as dash, httpx.AsyncClient(base_url=dash.url) as client:
        action = f"/queues/{queue.name}/jobs/{failed.id}/retry"
        page = await client.get(action)
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert page.status_code == 200 and csrf is not None
        assert await _status(queue, failed.id, JobState.FAILED), "GET only asks"
        assert await queue.connection().scripts.rerun(failed.id)  # retried meanwhile
        late = await client.post(action, data={"csrf": csrf[1]})
        assert late.status_code == 400 and "is queued: only a failed job is retried" in late.text
    assert await queue.inspect.pending_count() == 1, "enqueued once"


@in_browser
async def test_pause_and_resume_from_the_overview(server_url: str, queue: Queue) -> None:
    t = tasks(queue)
    async with serving(create_app(server_url)) as dash, chromium() as page, running_worker(queue):
        await t["add"].delay(0, 0)  # registers the queue
        await page.goto(dash.url + "/")
        row = page.locator(f'tr[data-queue="{queue.name}"]')
        await row.locator("a.button", has_text="Pause").click()
        await confirm(page)  # back on the queue's page
        assert await queue.is_paused()
        await page.locator("h1 .badge.paused").wait_for(state="visible")
        job = await t["add"].delay(1, 2)
        await page.locator('.cards [data-live="pending"]').filter(has_text="1").wait_for()
        await page.goto(dash.url + "/")
        await row.locator(".badge.paused").wait_for(state="visible")
        await row.locator("a.button", has_text="Resume").click()
        await confirm(page)
        assert not await queue.is_paused()
        assert await job.result(timeout=10) == 3
        await page.locator("h1 .badge.paused").wait_for(state="hidden")
        await page.locator('.cards [data-live="complete"]').filter(has_text="2").wait_for()


@in_browser
async def test_requeue_and_purge_dead_letters(server_url: str, queue: Queue) -> None:
    t = tasks(queue)
    blind = Queue(queue.name, server_url, settings=TEST_SETTINGS)  # a worker without the tasks
    try:
        jobs = [await t["add"].delay(n, n) for n in range(3)]
        async with running_worker(blind):
            await wait_until(lambda: _dead(queue, 3), 10, "three dead letters")
        async with serving(create_app(server_url)) as dash, chromium() as page:
            await page.goto(dash.url + "/dead")
            section = page.locator(f'section[data-queue="{queue.name}"]')
            assert await section.locator("table.dead tbody tr").count() == 3
            assert "unknown_task" in await section.inner_text()
            await section.locator("text=Requeue all").click()
            await confirm(page)
            counts = await queue.inspect.counts()
            assert (counts.dead, counts.pending) == (0, 3)
            async with running_worker(blind):
                await wait_until(lambda: _dead(queue, 3), 10, "dead again")
            await page.goto(dash.url + "/dead")
            await page.locator(f'section[data-queue="{queue.name}"] >> text=Purge all').click()
            await confirm(page)
            assert (await queue.inspect.counts()).dead == 0
            await page.goto(f"{dash.url}/queues/{queue.name}/jobs/{jobs[0].id}")
            assert await page.inner_text("#job-status") == "dead"
    finally:
        await blind.aclose()

async def _dead(queue: Queue, n: int) -> bool:
    return (await queue.inspect.counts()).dead == n

@in_browser
async def test_workers_and_schedules_pages(server_url: str, queue: Queue) -> None:
    t = tasks(queue)
    await queue.schedule("nightly", t["add"].call(1, 2), cron="0 3 * * *")
    async with serving(create_app(server_url)) as dash, chromium() as page, \
            running_worker(queue, worker_id="web-worker-1"):
        await wait_until(lambda: _workers(queue), 10, "the worker to register")
        await page.goto(dash.url + "/workers")
        row = page.locator('tr[data-worker="web-worker-1"]')
        text = await row.inner_text()
        assert "alive" in text and socket.gethostname() in text and str(os.getpid()) in text
        await page.click("text=Schedules")
        await page.wait_for_selector("table.schedules")
        text = await page.inner_text("table.schedules")
        assert "nightly" in text and "0 3 * * *" in text and "stored" in text

async def _workers(queue: Queue) -> bool:
    return any(w.alive for w in await queue.inspect.workers())

@in_browser
async def test_unknown_and_malformed_input_give_404_and_400_pages(server_url: str, queue: Queue) -> None:
    t = tasks(queue)
    await t["add"].delay(1, 1)
    async with serving(create_app(server_url)) as dash, chromium() as page:
        cases = {
            "/queues/no-such-queue": 404,
            f"/queues/{queue.name}/jobs/no-such-job": 404,
            "/no/such/page": 404,
            "/queues/bad%20name!": 400,
            f"/queues/{queue.name}?page=abc": 400,
            f"/queues/{queue.name}?state=complete": 400,
            f"/queues/{queue.name}/jobs/bad%20id": 400,
        }
        for path, status in cases.items():
            response = await page.goto(dash.url + path)
            assert response is not None and response.status == status, path
            text = await page.inner_text("main")
            assert "Traceback" not in text and "File \"" not in text, path

@in_browser
async def test_token_protects_every_page(server_url: str, queue: Queue) -> None:
    t = tasks(queue)
    await t["add"].delay(1, 1)
    async with serving(create_app(server_url, token="s3cret-token")) as dash:
        async with chromium() as page:
            await page.goto(f"{dash.url}/queues/{queue.name}")
            assert "/login" in page.url
            await page.fill('input[name="token"]', "wrong")
            await page.click("text=Sign in >> nth=-1")
            assert "not the dashboard's token" in await page.inner_text("#problem")
            await page.fill('input[name="token"]', "s3cret-token")
            await page.click("text=Sign in >> nth=-1")
            await page.wait_for_selector("div.cards")
            assert page.url.endswith(f"/queues/{queue.name}")
            cookies = await page.context.cookies()
            assert all("s3cret-token" not in c["value"] for c in cookies)
        async with chromium() as page:
            await page.goto(f"{dash.url}/workers?token=s3cret-token")
            assert page.url == f"{dash.url}/workers"
            await page.wait_for_selector("h1 >> text=Workers")
        async with httpx.AsyncClient(base_url=dash.url) as client:
            assert (await client.get("/api/overview")).status_code == 401
            assert (await client.get("/metrics")).status_code == 401
            assert (await client.post(f"/queues/{queue.name}/pause")).status_code == 401
            ok = await client.get("/api/overview", headers={"Authorization": "Bearer s3cret-token"})
            assert ok.status_code == 200 and queue.name in ok.text
            assert (await client.get("/login?next=//evil.example")).status_code == 200
    assert not await queue.is_paused()

@in_browser
async def test_read_only_hides_and_refuses_actions(server_url: str, queue: Queue) -> None:
    t = tasks(queue)
    failed = await t["explode"].delay("read-only")
    async with running_worker(queue):
        await wait_until(lambda: _status(queue, failed.id, JobState.FAILED), 10, "the job to fail")
    job = await t["add"].delay(1, 1)
    async with serving(create_app(server_url, read_only=True)) as dash, chromium() as page:
        for path in ("/", f"/queues/{queue.name}", f"/queues/{queue.name}/jobs/{job.id}", "/dead",
                     f"/queues/{queue.name}?state=failed", f"/queues/{queue.name}/jobs/{failed.id}"):
            await page.goto(dash.url + path)
            for label in ("Pause", "Cancel", "Retry", "Requeue all", "Purge all"):
                assert await page.locator(f"a.button >> text={label}").count() == 0, (path, label)
        assert "read-only" in await page.inner_text("header")
        response = await page.goto(f"{dash.url}/queues/{queue.name}/pause")
        assert response is not None and response.status == 403
        async with httpx.AsyncClient(base_url=dash.url) as client:
            refused = await client.post(f"/queues/{queue.name}/jobs/{job.id}/cancel")
            assert refused.status_code == 403
            refused = await client.post(f"/queues/{queue.name}/jobs/{failed.id}/retry")
            assert refused.status_code == 403
    assert not await queue.is_paused()
    assert (await queue.inspect.job(job.id)) is not None
    assert await _status(queue, failed.id, JobState.FAILED)

async def test_actions_need_the_csrf_token_and_a_post(server_url: str, queue: Queue) -> None:
    t = tasks(queue)
    await t["add"].delay(1, 1)
    async with serving(create_app(server_url)) as dash, httpx.AsyncClient(base_url=dash.url) as client:
        page = await client.get(f"/queues/{queue.name}/pause")
        assert page.status_code == 200 and not await queue.is_paused(), "GET only asks"
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf is not None
        forged = await client.post(f"/queues/{queue.name}/pause", data={"csrf": "0" * 64})
        assert forged.status_code == 400 and not await queue.is_paused()
        other_site = await client.post(f"/queues/{queue.name}/pause", data={"csrf": csrf[1]},
                                       headers={"Origin": "http://evil.example"})
        assert other_site.status_code == 400 and not await queue.is_paused()
        done = await client.post(f"/queues/{queue.name}/pause", data={"csrf": csrf[1]})
        assert done.status_code == 303 and await queue.is_paused()
        assert done.headers["location"].endswith("?notice=paused")

async def test_metrics_in_prometheus_text(server_url: str, queue: Queue) -> None:
    t = tasks(queue)
    await t["add"].delay(1, 1)
    await t["add"].options(delay=60).delay(1, 1)
    enqueued = time.time()
    async with running_worker(queue, worker_id="metrics-worker"):
        await queue.pause()  # the worker registers, and runs nothing
        await wait_until(lambda: _workers(queue), 10, "the worker to register")
        async with serving(create_app(server_url)) as dash, \
                httpx.AsyncClient(base_url=dash.url) as client:
            response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.text) for s in family.samples}

    def value(name: str, **labels: str) -> float:
        return samples[name, tuple(sorted({"queue": queue.name, **labels}.items()))]

    assert value("asyncjobs_jobs", state="pending") == 1
    assert value("asyncjobs_jobs", state="scheduled") == 1
    assert value("asyncjobs_jobs", state="running") == 0 and value("asyncjobs_jobs", state="dead") == 0
    assert value("asyncjobs_workers") == 1 and value("asyncjobs_paused") == 1
    assert 0 <= value("asyncjobs_oldest_pending_age_seconds") <= time.time() - enqueued + 5

@in_browser
async def test_a_password_in_the_url_never_reaches_a_page_or_the_log(
    server_url: str, queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    secret_url = server_url.replace("redis://", "redis://someone:hunter2-secret@")
    caplog.set_level(logging.DEBUG)
    async with serving(create_app(secret_url)) as dash, chromium() as page:
        response = await page.goto(dash.url + "/")
        assert response is not None and response.status == 503
        html = await page.content()
        assert "hunter2" not in html and "Traceback" not in html
        assert "someone:***@" in await page.inner_text("header")
    assert "hunter2" not in caplog.text
    assert "Traceback" not in caplog.text

@in_browser
async def test_mounted_under_a_prefix(server_url: str, queue: Queue) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    t = tasks(queue)
    await t["add"].delay(1, 1)
    dashboard = create_app(server_url)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with dashboard.router.lifespan_context(dashboard):  # closes its connections
            yield

    host = Starlette(routes=[Mount("/admin/jobs", app=dashboard)], lifespan=lifespan)
    async with serving(host) as dash, chromium() as page:
        await page.goto(dash.url + "/admin/jobs/")
        await page.click(f"text={queue.name}")
        await page.wait_for_selector("div.cards")
        assert page.url.startswith(f"{dash.url}/admin/jobs/queues/{queue.name}")
        assert await page.evaluate("getComputedStyle(document.body).fontFamily") != "", "CSS loads"
        await page.click("text=Pause queue")
        await confirm(page)
        assert await queue.is_paused()

def test_cli_refuses_a_public_host_without_a_token() -> None:
    run = subprocess.run([sys.executable, "-m", "asyncjobs", "dashboard", "--host", "0.0.0.0"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "without --token" in run.stderr

def test_cli_says_it_binds_to_loopback_only(server_url: str) -> None:
    port = free_port()
    url = server_url.replace("redis://", "redis://someone:hunter2-secret@")
    with subprocess.Popen([sys.executable, "-m", "asyncjobs", "dashboard", "--port", str(port),
                           "--url", url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert f"http://127.0.0.1:{port}/" in line and "loopback only" in line
    assert "hunter2" not in line and "someone:***@" in line



@in_browser
async def test_a_job_page_shows_its_progress_logs_and_what_it_waits_for(
    server_url: str, queue: Queue
) -> None:
    gate = anyio.Event()

    @queue.task(name="encode")
    async def encode(ctx: Context, video: int) -> int:
        await ctx.progress(0.5, "first pass done")
        ctx.log(f"bitrate of {video}: 4200 kb/s")
        await gate.wait()
        return video

    async with serving(create_app(server_url)) as dash, chromium() as page, running_worker(queue):
        job = await encode.delay(7)
        after = await encode.options(after=[job]).delay(8)
        await wait_until(lambda: _logged(queue, job.id), 10, "the job's first report")
        await page.goto(f"{dash.url}/queues/{queue.name}/jobs/{job.id}")
        assert "50%" in await page.inner_text("#job-progress")
        assert "first pass done" in await page.inner_text("#job-progress")
        assert "bitrate of 7: 4200 kb/s" in await page.inner_text("#job-logs")
        await page.goto(f"{dash.url}/queues/{queue.name}/jobs/{after.id}")
        assert await page.inner_text("#job-status") == "waiting"
        assert await page.inner_text("#job-waiting") == "1 job to complete"
        await page.goto(f"{dash.url}/queues/{queue.name}")  # counted on the queue's cards
        assert await page.inner_text('.cards [data-live="waiting"]') == "1"
        gate.set()
        await page.locator('.cards [data-live="waiting"]').filter(has_text="0").wait_for()
        assert await after.result(timeout=10) == 8


async def _logged(queue: Queue, job_id: str) -> bool:
    return bool(await queue.inspect.job_logs(job_id))


async def test_a_sharded_queue_is_one_queue_with_its_shards_summed(server_url: str) -> None:
    sharded = Queue(f"d-{uuid.uuid4().hex[:10]}", server_url, settings=TEST_SETTINGS, shards=3)
    try:
        @sharded.task(name="add")
        async def add(a: int, b: int) -> int:
            return a + b

        jobs = await sharded.enqueue_many([add.call(i, 1) for i in range(60)])
        assert len({sharded.shard_of(job.id).name for job in jobs}) == 3  # all but surely
        async with serving(create_app(server_url)) as dash, \
                httpx.AsyncClient(base_url=dash.url) as client:
            overview = (await client.get("/api/overview")).json()["queues"]
            names = [q["name"] for q in overview]
            assert sharded.name in names and not any("~" in name for name in names)
            assert (await client.get(f"/api/queues/{sharded.name}")).json()["pending"] == 60
            listed = await client.get(f"/queues/{sharded.name}?state=queued")
            assert sum(job.id in listed.text for job in jobs) == 50  # a page, shard after shard
            await Worker(sharded, burst=True).run()
            page = await client.get(f"/queues/{sharded.name}/jobs/{jobs[5].id}")
            assert page.status_code == 200 and "complete" in page.text
            summary = (await client.get(f"/api/queues/{sharded.name}")).json()
            assert (summary["pending"], summary["complete"]) == (0, 60)
    finally:
        await sharded.aclose()
