"""The framework examples, each driven by its own test client against a real server and a real
worker: FastAPI (``delay``), Flask and Django (``delay_sync``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
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


async def test_fastapi_app(redis_url: str) -> None:
    from fastapi.testclient import TestClient

    from examples import fastapi_app

    point_at(fastapi_app.queue, redis_url)

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
            assert poll_job(get, image.json()["status_url"])["result"] == "cat-640.jpg"
            assert client.post("/images", json={"path": "cat.jpg"}).status_code == 422
            assert client.get("/jobs/no-such-job").status_code == 404
            assert client.get("/jobs/not a valid id").status_code == 404
            stats = client.get("/stats").json()
            assert stats["complete"] == 2 and stats["pending"] == 0

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
