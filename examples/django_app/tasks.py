"""The project's queue and tasks; views enqueue with ``delay_sync`` (Django views are sync)."""

from __future__ import annotations

from asyncjobs import Queue

queue = Queue("web-django")  # $ASYNCJOBS_REDIS_URL, else redis://localhost:6379/0


@queue.task(name="web.send_email", retries=2)
async def send_email(to: str, subject: str) -> dict[str, str]:
    return {"to": to, "subject": subject, "status": "sent"}
