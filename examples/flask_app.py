"""A Flask app (no event loop) that hands slow work to asyncjobs with ``delay_sync``.

    asyncjobs worker examples.flask_app:queue           # a worker, from the repository root
    flask --app examples.flask_app run                  # the app

POST /emails {"to", "subject"} and POST /images {"path", "width"} enqueue a job and answer 202
with {"job_id", "status_url"} (400 when the arguments do not fit the task); GET /jobs/<id>
gives its status (and result, once complete); GET /stats gives the queue's counts. Every
thread of every process shares one connection pool per process, also under a pre-fork server
such as gunicorn.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Flask, abort, request

from asyncjobs import ConfigError, JobState, Queue, TaskArgumentError

queue = Queue("web-flask")  # $ASYNCJOBS_REDIS_URL, else redis://localhost:6379/0


@queue.task(name="web.send_email", retries=2)
async def send_email(to: str, subject: str) -> dict[str, str]:
    return {"to": to, "subject": subject, "status": "sent"}


@queue.task(name="web.resize", timeout=30)
def resize(path: str, width: int) -> str:
    return path.replace(".jpg", f"-{width}.jpg")


app = Flask(__name__)


def accepted(job_id: str) -> tuple[dict[str, str], int]:
    return {"job_id": job_id, "status_url": f"/jobs/{job_id}"}, 202


@app.errorhandler(TaskArgumentError)
def bad_arguments(exc: TaskArgumentError) -> tuple[dict[str, str], int]:
    return {"error": str(exc)}, 400


@app.post("/emails")
def post_email() -> tuple[dict[str, str], int]:
    data = request.get_json()
    return accepted(send_email.delay_sync(data.get("to"), data.get("subject")).id)


@app.post("/images")
def post_image() -> tuple[dict[str, str], int]:
    data = request.get_json()
    return accepted(resize.delay_sync(data.get("path"), data.get("width")).id)


@app.get("/jobs/<job_id>")
def get_job(job_id: str) -> dict[str, Any]:
    try:
        info = queue.job_sync(job_id)
    except ConfigError:  # not a valid job id
        info = None
    if info is None:
        abort(404)
    body: dict[str, Any] = {"id": info.id, "task": info.task, "status": info.status.value,
                            "attempts": info.attempts, "error": info.error}
    if info.status is JobState.COMPLETE:
        body["result"] = queue.result_sync(job_id, timeout=5)
    return body


@app.get("/stats")
def stats() -> dict[str, Any]:
    return dataclasses.asdict(queue.counts_sync())
