"""``asyncjobs dashboard``: checks where it may listen, says so in one line, runs uvicorn."""

from __future__ import annotations

import ipaddress
import os

from ..errors import ConfigError
from ..redact import redact_url


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def startup_line(host: str, port: int, *, read_only: bool, token: str | None, redis_url: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    access = ("token required" if token else
              "no token: loopback only (give --token to listen on other interfaces)")
    mode = "read-only" if read_only else "actions enabled"
    return f"asyncjobs dashboard on http://{shown}:{port}/ ({access}; {mode}) for {redact_url(redis_url)}"


def serve(*, host: str, port: int, read_only: bool, token: str | None, redis_url: str | None) -> None:
    """Run the dashboard until interrupted. ``ConfigError`` for a non-loopback host without a
    token; ``ImportError`` (one line) without the extra."""
    if token is not None and not token:
        raise ConfigError("--token must not be empty")
    if not token and not is_loopback(host):
        raise ConfigError(f"refusing to listen on {host} without --token: anyone who reaches it "
                          "could cancel jobs and purge dead letters")
    from . import create_app, require_extra

    require_extra()
    try:
        import uvicorn
    except ImportError:
        from . import MISSING_EXTRA

        raise ImportError(f"{MISSING_EXTRA} (uvicorn is not installed)") from None
    url = redis_url or os.environ.get("ASYNCJOBS_REDIS_URL") or "redis://localhost:6379/0"
    app = create_app(url, read_only=read_only, token=token)
    print(startup_line(host, port, read_only=read_only, token=token, redis_url=url), flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                server_header=False)
