"""The framework examples, each driven by its own test client against a real server and a real
worker: FastAPI (``delay``, the dashboard mounted at /admin/queues), Flask and Django
(``delay_sync``); each one's /stats."""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import ModuleType
from typing import Any

import anyio
import pytest

from asyncjobs import Queue

from .conftest import running_worker

pytestmark = pytest.mark.anyio


def point_at(queue: Queue, url: str) -> None:
    """An example's queue, on the test server (its URL comes from the environment otherwise)."""
    queue.settings = replace(queue.settings, redis_url=url)


def poll_job(get: Callable[[str], tuple[int, Any]], status_url: str,
             timeout: float = 15.0) -> dict[str, Any]:
    """GET ``status_url`` until the job has finished."""
    deadline = time.monotonic() + timeout
    while True:
        code, body = get(status_url)
        assert code == 200, body
        if body["status"] in ("complete", "failed", "dead"):
            return dict(body)
        assert time.monotonic() < deadline, f"job still {body['status']}"
        time.sleep(0.02)


@pytest.fixture
def fastapi_app(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The FastAPI example imported afresh with the test server in its environment: its queue
    and the dashboard it mounts read ``$ASYNCJOBS_REDIS_URL`` when the module is imported."""
    monkeypatch.setenv("ASYNCJOBS_REDIS_URL", redis_url)
    sys.modules.pop("examples.fastapi_app", None)
    yield importlib.import_module("examples.fastapi_app")
    sys.modules.pop("examples.fastapi_app", None)


def assert_stats(body: dict[str, Any]) -> None:
    """A /stats body: the queue's counts after two completed jobs, its one worker running."""
    assert body["complete"] == 2 and body["pending"] == 0 and body["dead"] == 0, body
    assert body["workers"] == 1 and body["paused"] is False, body


async def test_fastapi_app(fastapi_app: ModuleType) -> None:
    from fastapi.testclient import TestClient

    assert fastapi_app.queue.settings.redis_url == os.environ["ASYNCJOBS_REDIS_URL"]

    def drive() -> None:
        with TestClient(fastapi_app.app) as client:
            def get(url: str) -> tuple[int, Any]:
                response = client.get(url)
                return response.status_code, response.json()

            email = client.post("/emails", json={"to": "a@example.com", "subject": "Hi"})
            assert email.status_code == 202, email.text
            job_id = email.json()["job_id"]
            assert email.json() == {"job_id": job_id, "status_url": f"/jobs/{job_id}"}
            done = poll_job(get, email.json()["status_url"])
            assert done["status"] == "complete"
            assert done["result"] == {"to": "a@example.com", "subject": "Hi", "status": "sent"}
            image = client.post("/images", json={"path": "cat.jpg", "width": 640})
            assert image.status_code == 202
            resized = poll_job(get, image.json()["status_url"])
            assert resized["result"] == "cat-640.jpg"
            assert (resized["progress"], resized["progress_message"]) == (0.5, "decoded")
            assert client.post("/images", json={"path": "cat.jpg"}).status_code == 422
            assert client.get("/jobs/no-such-job").status_code == 404
            assert client.get("/jobs/not a valid id").status_code == 404
            assert_stats(client.get("/stats").json())
            board = client.get("/admin/queues/")  # the dashboard's overview, on the same Redis
            assert board.status_code == 200, board.text
            assert "web-fastapi" in board.text
            assert 'href="/admin/queues/' in board.text  # its links follow the mount path
            page = client.get("/admin/queues/queues/web-fastapi")
            assert page.status_code == 200 and "web-fastapi" in page.text, page.text

    async with running_worker(fastapi_app.queue):
        await anyio.to_thread.run_sync(drive)


async def test_flask_app(redis_url: str) -> None:
    from examples import flask_app

    point_at(flask_app.queue, redis_url)
    client = flask_app.app.test_client()

    def get(url: str) -> tuple[int, Any]:
        response = client.get(url)
        return response.status_code, response.get_json()

    def drive() -> None:
        email = client.post("/emails", json={"to": "a@example.com", "subject": "Hi"})
        assert email.status_code == 202, email.text
        body = email.get_json()
        assert body == {"job_id": body["job_id"], "status_url": f"/jobs/{body['job_id']}"}
        assert poll_job(get, body["status_url"])["result"]["status"] == "sent"
        image = client.post("/images", json={"path": "cat.jpg", "width": 640})
        assert poll_job(get, image.get_json()["status_url"])["result"] == "cat-640.jpg"
        wrong = client.post("/images", json={"path": "cat.jpg", "width": "wide"})
        assert wrong.status_code == 400
        assert "argument 'width'" in wrong.get_json()["error"]
        assert client.get("/jobs/no-such-job").status_code == 404
        stats = client.get("/stats")
        assert stats.status_code == 200
        assert_stats(stats.get_json())

    async with running_worker(flask_app.queue):
        await anyio.to_thread.run_sync(drive)
    flask_app.queue.close_sync()


@pytest.fixture
def django_client(redis_url: str) -> Iterator[Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
    import django
    from django.test import Client

    django.setup()
    from examples.django_app import tasks

    point_at(tasks.queue, redis_url)
    yield Client()
    tasks.queue.close_sync()


@pytest.mark.slow
def test_django_app_and_its_worker_command(django_client: Any) -> None:
    from django.core.management import call_command

    def get(url: str) -> tuple[int, Any]:
        response = django_client.get(url)
        return response.status_code, response.json()

    email = django_client.post("/emails", {"to": "a@example.com", "subject": "Hi"},
                               content_type="application/json")
    assert email.status_code == 202, email.content
    body = email.json()
    assert get(body["status_url"])[1]["status"] == "queued"
    call_command("asyncjobs_worker", "--burst")  # runs the queued job, then exits
    done = poll_job(get, body["status_url"])
    assert done["status"] == "complete" and done["result"]["to"] == "a@example.com"
    wrong = django_client.post("/emails", {"to": 1}, content_type="application/json")
    assert wrong.status_code == 400
    assert django_client.get("/jobs/no-such-job").status_code == 404
    stats = django_client.get("/stats")
    assert stats.status_code == 200
    body = stats.json()
    assert body["complete"] == 1 and body["pending"] == 0 and body["workers"] == 0, body
