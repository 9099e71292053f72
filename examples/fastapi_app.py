"""A FastAPI app that hands slow work to asyncjobs and reports on it.

    asyncjobs worker examples.fastapi_app:queue        # a worker, from the repository root
    uvicorn examples.fastapi_app:app                   # the app (pip install uvicorn)

POST /emails {"to", "subject"} and POST /images {"path", "width"} enqueue a job and answer 202
with {"job_id", "status_url"}; GET /jobs/{id} gives its status and progress (and result, once
complete);
GET /stats gives the queue's counts; /admin/queues is the dashboard (``asyncjobs.dashboard``,
the ``dashboard`` extra), on the queue's Redis.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from asyncjobs import ConfigError, Context, JobFailed, JobState, Queue
from asyncjobs.dashboard import create_app

queue = Queue("web-fastapi")  # $ASYNCJOBS_REDIS_URL, else redis://localhost:6379/0


@queue.task(name="web.send_email", retries=2)
async def send_email(to: str, subject: str) -> dict[str, str]:
    await anyio.sleep(0.01)  # talk to the mail server
    return {"to": to, "subject": subject, "status": "sent"}


@queue.task(name="web.resize", timeout=30)
def resize(ctx: Context, path: str, width: int) -> str:  # a plain def runs in a worker thread
    ctx.progress(0.5, "decoded")  # seen at /jobs/{id} while it runs
    return path.replace(".jpg", f"-{width}.jpg")


dashboard = create_app(queue.settings.redis_url)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with dashboard.router.lifespan_context(dashboard):  # a mount's lifespan is not run for it
        yield
    await queue.aclose()


app = FastAPI(lifespan=lifespan)
app.mount("/admin/queues", dashboard)


class Email(BaseModel):
    to: str
    subject: str


class Image(BaseModel):
    path: str
    width: int


def accepted(job_id: str) -> dict[str, str]:
    return {"job_id": job_id, "status_url": f"/jobs/{job_id}"}


@app.post("/emails", status_code=202)
async def post_email(email: Email) -> dict[str, str]:
    job = await send_email.delay(email.to, email.subject)
    return accepted(job.id)


@app.post("/images", status_code=202)
async def post_image(image: Image) -> dict[str, str]:
    job = await resize.delay(image.path, image.width)
    return accepted(job.id)


@app.get("/jobs/{job_id}")
async def get_job(job_id: str) -> dict[str, Any]:
    try:
        info = await queue.inspect.job(job_id)
    except ConfigError:  # not a valid job id
        info = None
    if info is None:
        raise HTTPException(status_code=404, detail="no such job")
    body: dict[str, Any] = {"id": info.id, "task": info.task, "status": info.status.value,
                            "attempts": info.attempts, "error": info.error,
                            "progress": info.progress, "progress_message": info.progress_message}
    if info.status is JobState.COMPLETE:
        try:
            body["result"] = await queue.result(job_id, timeout=5)
        except JobFailed as exc:  # cannot happen for a complete job; shown for the pattern
            body["error"] = str(exc)
    return body


@app.get("/stats")
async def stats() -> dict[str, Any]:
    return dataclasses.asdict(await queue.inspect.counts())
