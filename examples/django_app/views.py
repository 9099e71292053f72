"""Enqueue a job and answer 202 with where to follow it; report a job's status and the queue's
counts."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from asyncjobs import ConfigError, JobState, TaskArgumentError

from .tasks import queue, send_email


@require_POST
def post_email(request: HttpRequest) -> JsonResponse:
    data = json.loads(request.body)
    try:
        job = send_email.delay_sync(data.get("to"), data.get("subject"))
    except TaskArgumentError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"job_id": job.id, "status_url": f"/jobs/{job.id}"}, status=202)


@require_GET
def get_job(request: HttpRequest, job_id: str) -> JsonResponse:
    try:
        info = queue.job_sync(job_id)
    except ConfigError:  # not a valid job id
        info = None
    if info is None:
        return JsonResponse({"error": "no such job"}, status=404)
    body: dict[str, Any] = {"id": info.id, "task": info.task, "status": info.status.value,
                            "attempts": info.attempts, "error": info.error}
    if info.status is JobState.COMPLETE:
        body["result"] = queue.result_sync(job_id, timeout=5)
    return JsonResponse(body)


@require_GET
def stats(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dataclasses.asdict(queue.counts_sync()))
