"""The web dashboard: ``asyncjobs dashboard`` serves it; ``create_app()`` gives the ASGI app to
mount in FastAPI, Starlette or any ASGI server. Needs the ``dashboard`` extra
(``pip install 'asyncjobs-redis[dashboard]'``); ``/metrics`` also needs ``prometheus-client``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["MISSING_EXTRA", "create_app", "require_extra"]

MISSING_EXTRA = "the dashboard needs its extra: pip install 'asyncjobs-redis[dashboard]'"


def require_extra() -> None:
    """Raise ``ImportError`` with one clear line when Starlette or Jinja2 is missing."""
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"{MISSING_EXTRA} ({exc.name} is not installed)") from None


def create_app(redis_url: str | None = None, *, read_only: bool = False,
               token: str | None = None) -> Starlette:
    """The dashboard as an ASGI app over the Redis at ``redis_url`` (default
    ``$ASYNCJOBS_REDIS_URL``, else ``redis://localhost:6379/0``). ``read_only`` hides and
    refuses every action; ``token`` protects every page (a login form, ``?token=``, or an
    ``Authorization: Bearer`` header). Mount it under any path: links follow ``root_path``."""
    require_extra()
    from ._app import build

    url = redis_url or os.environ.get("ASYNCJOBS_REDIS_URL") or "redis://localhost:6379/0"
    return build(url, read_only=read_only, token=token)
