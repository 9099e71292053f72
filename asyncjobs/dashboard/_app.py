"""The dashboard's ASGI app (Starlette and Jinja2): pages, small JSON endpoints for the live
counters, confirmed actions, and ``/metrics``.

Every handler runs inside ``_guarded``: an unknown queue or job is a 404 page, a malformed
parameter a 400 page, and anything else a 500 page that names no exception, no traceback and no
Redis URL; the log gets one line with the error's type.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import jinja2
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..admin import NotAllowed, retry_job
from ..protocol import JobState
from ..queue import Queue
from ..redact import redact_url
from ._charts import history_svg
from ._reads import BadInput, Board, NotFound, QueueSummary
from ._security import CSRF_COOKIE, SESSION_COOKIE, Guard

logger: logging.Logger = logging.getLogger("asyncjobs.dashboard")

HERE = Path(__file__).parent
PER_PAGE = 50
MAX_FORM_BYTES = 8192
POLL_MS = 1000
LISTED = {state.value: state
          for state in (JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING, JobState.FAILED)}
NOTICES = {
    "paused": "The queue is paused: workers start none of its jobs until it is resumed.",
    "resumed": "The queue is resumed.",
    "cancelled": "The job is cancelled.",
    "not-cancelled": "The job had already finished: nothing changed.",
    "retried": "The job is enqueued again with its original call.",
    "not-retried": "The job was no longer failed (retried already?): nothing changed.",
    "requeued": "The dead letters are back on the queue.",
    "purged": "The dead letters are deleted.",
}

Handler = Callable[[Request], Awaitable[Response]]


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(ts: float | None) -> str:
    if ts is None:
        return "-"
    seconds = max(0.0, time.time() - ts)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} %"


class Dashboard:
    """The app's state: the board (reads), the guard (token and CSRF), the templates."""

    def __init__(self, redis_url: str, *, read_only: bool, token: str | None) -> None:
        self.board: Board = Board(redis_url)
        self.read_only: bool = read_only
        self.guard: Guard = Guard(token)
        self.server: str = redact_url(redis_url)
        self.env: jinja2.Environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined,
        )
        self.env.filters["when"] = _when
        self.env.filters["ago"] = _ago
        self.env.filters["percent"] = _percent

    # -- plumbing ----------------------------------------------------------------------------

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = cookie is None
        if cookie is None:
            cookie = Guard.new_csrf_cookie()
        base = _base(request)
        notice = NOTICES.get(request.query_params.get("notice", ""))
        context.setdefault("page", "")
        html = self.env.get_template(template).render(
            base=base, read_only=self.read_only, server=self.server, csrf=self.guard.csrf_for(cookie),
            notice=notice, protected=self.guard.token is not None, poll_ms=POLL_MS, **context)
        response = HTMLResponse(html, status_code=status)
        if fresh:
            response.set_cookie(CSRF_COOKIE, cookie, path=base or "/", httponly=True, samesite="strict")
        return response

    def problem(self, request: Request, status: int, message: str) -> Response:
        titles = {400: "Bad request", 401: "Sign in", 403: "Not allowed", 404: "Not found",
                  500: "Something went wrong", 503: "Redis did not answer"}
        if request.url.path.startswith(f"{_base(request)}/api/"):
            return JSONResponse({"error": message}, status_code=status)
        return self.render(request, "problem.html", status, title=titles.get(status, "Error"),
                           message=message)

    def guarded(self, handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                return await self._answer(handler, request)
            except Exception as exc:  # the problem page itself failed: plain text, still no details
                logger.error("dashboard: %s %s failed: %s", request.method, request.url.path,
                             type(exc).__name__)
                return PlainTextResponse("internal error", status_code=500)
        return run

    async def _answer(self, handler: Handler, request: Request) -> Response:
        try:
            if not self.guard.allows(request.headers.get("authorization"),
                                     request.cookies.get(SESSION_COOKIE)):
                return self.unauthorized(request)
            return await handler(request)
        except NotFound as exc:
            return self.problem(request, 404, str(exc))
        except BadInput as exc:
            return self.problem(request, 400, str(exc))
        except RedisError as exc:
            logger.error("dashboard: %s %s: Redis error %s", request.method, request.url.path,
                         type(exc).__name__)
            return self.problem(request, 503, "The dashboard could not read Redis; try again.")
        except Exception as exc:
            logger.error("dashboard: %s %s failed: %s", request.method, request.url.path,
                         type(exc).__name__)
            return self.problem(request, 500, "The page could not be made; the log has the "
                                "error's type.")

    def unauthorized(self, request: Request) -> Response:
        token = request.query_params.get("token")
        base = _base(request)
        if request.method == "GET" and token is not None and self.guard.token_matches(token):
            rest = "&".join(f"{quote(k)}={quote(v)}" for k, v in request.query_params.multi_items()
                            if k != "token")
            response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), 303)
            self._sign_in(response, base)
            return response
        if request.method == "GET" and not request.url.path.startswith(f"{base}/api/") \
                and request.url.path != f"{base}/metrics":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{base}/login?next={quote(target)}", 303)
        return self.problem(request, 401, "This dashboard needs its token.")

    def _sign_in(self, response: Response, base: str) -> None:
        response.set_cookie(SESSION_COOKIE, self.guard.session_value(), path=base or "/",
                            httponly=True, samesite="strict")

    async def form(self, request: Request) -> dict[str, str]:
        """The urlencoded body of a POST, checked against the CSRF cookie (``BadInput``)."""
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise BadInput("the form is too large")
        try:
            fields = {k: v[0] for k, v in parse_qs(body.decode(), strict_parsing=False).items()}
        except UnicodeDecodeError:
            raise BadInput("the form is not text") from None
        origin = request.headers.get("origin")
        if origin is not None and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
            raise BadInput("the form came from another site")
        if not self.guard.csrf_ok(request.cookies.get(CSRF_COOKIE), fields.get("csrf")):
            raise BadInput("the form's CSRF token is missing or stale: reload the page and try again")
        return fields

    # -- pages -------------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        summaries = await self.board.overview()
        return self.render(request, "overview.html", summaries=summaries, page="overview",
                           charts={s.name: history_svg(s.history) for s in summaries})

    async def queue(self, request: Request) -> Response:
        queue = await self.board.queue(request.path_params["name"])
        params = request.query_params
        job_id = params.get("id", "").strip()
        if job_id:
            target = f"{_base(request)}/queues/{quote(queue.name)}/jobs/{quote(job_id, safe='')}"
            return RedirectResponse(target, 303)
        state = LISTED.get(params.get("state", "queued"))
        if state is None:
            raise BadInput("state must be one of " + ", ".join(LISTED))
        page = _int(params.get("page", "0"), "page", 0, 10_000)
        task = params.get("task", "").strip() or None
        if task is not None and len(task) > 200:
            raise BadInput("task must be at most 200 characters")
        rows, more = await self.board.jobs(queue, state, page=page, per_page=PER_PAGE, task=task)
        summary = await self.board.summary(queue)
        return self.render(request, "queue.html", q=summary, state=state.value, states=list(LISTED),
                           rows=rows, more=more, page_no=page, task=task or "", page="queues",
                           chart=history_svg(summary.history))

    async def job(self, request: Request) -> Response:
        queue = await self.board.queue(request.path_params["name"])
        detail = await self.board.job(queue, request.path_params["job_id"])
        return self.render(request, "job.html", queue=queue.name, job=detail, page="queues")

    async def workers(self, request: Request) -> Response:
        return self.render(request, "workers.html", workers=await self.board.workers(), page="workers")

    async def dead(self, request: Request) -> Response:
        letters = await self.board.dead_letters()
        counts = {name: (await (await self.board.queue(name)).inspect.counts()).dead for name in letters}
        return self.render(request, "dead.html", letters=letters, counts=counts, page="dead")

    async def schedules(self, request: Request) -> Response:
        return self.render(request, "schedules.html", schedules=await self.board.schedules(),
                           page="schedules")

    async def login(self, request: Request) -> Response:
        base = _base(request)
        target = _local(request.query_params.get("next", ""), base)
        if request.method == "POST":
            body = (await request.body())[:MAX_FORM_BYTES]
            fields = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
            target = _local(fields.get("next", ""), base)
            if self.guard.token_matches(fields.get("token", "")):
                response = RedirectResponse(target, 303)
                self._sign_in(response, base)
                return response
            return self.render(request, "login.html", 401, next=target, failed=True, page="login")
        if self.guard.token is None:
            return RedirectResponse(target, 303)
        return self.render(request, "login.html", next=target, failed=False, page="login")

    # -- live counters -----------------------------------------------------------------------

    async def api_overview(self, request: Request) -> Response:
        summaries = await self.board.overview()
        charts = request.query_params.get("charts") == "1"
        return JSONResponse({"queues": [_summary_json(s, charts) for s in summaries], "at": time.time()})

    async def api_queue(self, request: Request) -> Response:
        queue = await self.board.queue(request.path_params["name"])
        charts = request.query_params.get("charts") == "1"
        return JSONResponse(_summary_json(await self.board.summary(queue), charts))

    # -- actions -----------------------------------------------------------------------------

    def action(self, what: str) -> Handler:
        async def run(request: Request) -> Response:
            return await self._act(what, request)
        return run

    async def _act(self, what: str, request: Request) -> Response:
        """GET: the confirmation page of an action; POST (its form): the action itself."""
        if self.read_only:
            return self.problem(request, 403, "This dashboard is read-only.")
        queue = await self.board.queue(request.path_params["name"])
        job_id = request.path_params.get("job_id")
        base = _base(request)
        back = f"{base}/queues/{quote(queue.name)}"
        if job_id is not None:
            detail = await self.board.job(queue, job_id)
            back = f"{back}/jobs/{quote(job_id, safe='')}"
            status = detail.info.status
            if what == "cancel" and detail.final:
                raise BadInput(f"job {job_id!r} has finished ({status.value}): "
                               "it cannot be cancelled")
            if what == "retry" and status is not JobState.FAILED:
                raise BadInput(f"job {job_id!r} is {status.value}: only a failed job is retried")
        elif what in ("requeue", "purge"):
            back = f"{base}/dead"
        questions = {
            "pause": f"Pause queue {queue.name}? Workers start none of its jobs until it is resumed; "
                     "running jobs finish.",
            "resume": f"Resume queue {queue.name}?",
            "cancel": f"Cancel job {job_id}? A waiting job never starts; a running one is stopped.",
            "retry": f"Retry job {job_id}? It is enqueued again with its original call, its "
                     "attempts counted from 0.",
            "requeue": f"Put every dead letter of queue {queue.name} back on the queue?",
            "purge": f"Delete every dead letter of queue {queue.name}? This cannot be undone.",
        }
        if request.method == "GET":
            return self.render(request, "confirm.html", question=questions[what], action=request.url.path,
                               back=back, what=what, page="confirm")
        await self.form(request)
        notice = await self._do(what, queue, job_id)
        logger.info("dashboard: %s on queue %s%s", what, queue.name, f" job {job_id}" if job_id else "")
        return RedirectResponse(f"{back}?notice={notice}", 303)

    async def _do(self, what: str, queue: Queue, job_id: str | None) -> str:
        """Carry out a confirmed action; returns the notice to show (``NOTICES``)."""
        if what == "pause":
            await queue.pause()
            return "paused"
        if what == "resume":
            await queue.resume()
            return "resumed"
        if what == "requeue":
            await queue.inspect.requeue_dead_letters()
            return "requeued"
        if what == "purge":
            await queue.inspect.purge_dead_letters()
            return "purged"
        assert job_id is not None
        if what == "cancel":
            return "cancelled" if await queue.cancel(job_id) else "not-cancelled"
        try:
            await retry_job(queue, job_id)
        except NotAllowed:  # retried (or expired) since the confirmation page
            return "not-retried"
        return "retried"


def _summary_json(s: QueueSummary, chart: bool) -> dict[str, Any]:
    c = s.counts
    data: dict[str, Any] = {
        "name": s.name, "pending": c.pending, "scheduled": c.scheduled, "waiting": c.waiting,
        "running": c.running,
        "dead": c.dead, "workers": c.workers, "paused": c.paused, "complete": c.complete,
        "failed": c.failed, "cancelled": c.cancelled, "finished_hour": s.finished_last_hour,
        "failure_rate": _percent(s.failure_rate),
    }
    if chart:
        data["chart"] = history_svg(s.history)
    return data


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _local(target: str, base: str) -> str:
    """``target`` when it is a path of this dashboard, else its overview: never another site."""
    if target.startswith(f"{base}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{base}/"


def _int(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise BadInput(f"{name} must be from {low} to {high}")
    return value


def build(redis_url: str, *, read_only: bool, token: str | None) -> Starlette:
    dash = Dashboard(redis_url, read_only=read_only, token=token)
    g = dash.guarded
    routes = [
        Route("/", g(dash.overview)),
        Route("/queues/{name}", g(dash.queue)),
        Route("/queues/{name}/jobs/{job_id}", g(dash.job)),
        Route("/queues/{name}/jobs/{job_id}/cancel", g(dash.action("cancel")), methods=["GET", "POST"]),
        Route("/queues/{name}/jobs/{job_id}/retry", g(dash.action("retry")), methods=["GET", "POST"]),
        Route("/queues/{name}/pause", g(dash.action("pause")), methods=["GET", "POST"]),
        Route("/queues/{name}/resume", g(dash.action("resume")), methods=["GET", "POST"]),
        Route("/queues/{name}/dead/requeue", g(dash.action("requeue")), methods=["GET", "POST"]),
        Route("/queues/{name}/dead/purge", g(dash.action("purge")), methods=["GET", "POST"]),
        Route("/workers", g(dash.workers)),
        Route("/dead", g(dash.dead)),
        Route("/schedules", g(dash.schedules)),
        Route("/api/overview", g(dash.api_overview)),
        Route("/api/queues/{name}", g(dash.api_queue)),
        Route("/login", dash.login, methods=["GET", "POST"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    from ._metrics import metrics_route

    metrics = metrics_route(dash.board)
    if metrics is not None:
        routes.append(Route("/metrics", g(metrics)))

    async def not_found(request: Request, exc: Exception) -> Response:
        return dash.problem(request, 404, "No such page.")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return dash.problem(request, 405, "Actions are POSTs from the dashboard's own forms.")

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed},
                    middleware=[Middleware(SecurityHeaders)], lifespan=_lifespan(dash))
    app.state.dashboard = dash
    return app


def _lifespan(dash: Dashboard) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await dash.board.aclose()

    return lifespan


_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
     b"frame-ancestors 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Security headers on every response: a pure ASGI middleware, no buffering of bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
