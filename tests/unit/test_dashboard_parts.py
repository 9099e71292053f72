"""The dashboard's parts that need no server: the missing-extra message, where it may listen,
the token and CSRF checks, the chart, and safe redirects."""

from __future__ import annotations

import sys

import pytest

from asyncjobs.dashboard import MISSING_EXTRA, require_extra
from asyncjobs.dashboard._app import _local
from asyncjobs.dashboard._charts import history_svg
from asyncjobs.dashboard._security import Guard
from asyncjobs.dashboard._serve import is_loopback, serve, startup_line
from asyncjobs.errors import ConfigError
from asyncjobs.inspector import MinuteCounts


def test_a_missing_extra_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "starlette", None)
    with pytest.raises(ImportError) as caught:
        require_extra()
    assert str(caught.value) == f"{MISSING_EXTRA} (starlette is not installed)"
    assert "pip install 'asyncjobs-redis[dashboard]'" in str(caught.value)


def test_only_loopback_without_a_token() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.2", "example.com"))
    for host in ("0.0.0.0", "::", "10.0.0.1"):
        with pytest.raises(ConfigError, match=f"refusing to listen on {host} without --token"):
            serve(host=host, port=8080, read_only=False, token=None, redis_url=None)
    with pytest.raises(ConfigError, match="must not be empty"):
        serve(host="127.0.0.1", port=8080, read_only=False, token="", redis_url=None)
    line = startup_line("127.0.0.1", 8080, read_only=True, token=None,
                        redis_url="redis://u:pw@h:6379/0")
    assert line == ("asyncjobs dashboard on http://127.0.0.1:8080/ (no token: loopback only (give "
                    "--token to listen on other interfaces); read-only) for redis://u:***@h:6379/0")
    assert "token required" in startup_line("::", 1, read_only=False, token="t", redis_url="redis://h")


def test_the_token_and_the_csrf_checks() -> None:
    open_guard = Guard(None)
    assert open_guard.allows(None, None)
    guard = Guard("tok")
    assert not guard.allows(None, None)
    assert guard.allows("Bearer tok", None) and guard.allows("bearer  tok", None)
    assert not guard.allows("Bearer tak", None) and not guard.allows("Basic tok", None)
    assert guard.allows(None, guard.session_value()) and "tok" not in guard.session_value()
    assert not guard.allows(None, "0" * 64)
    cookie = Guard.new_csrf_cookie()
    assert guard.csrf_ok(cookie, guard.csrf_for(cookie))
    assert not guard.csrf_ok(cookie, cookie) and not guard.csrf_ok(None, guard.csrf_for(cookie))
    assert not Guard("tok").csrf_ok(cookie, guard.csrf_for(cookie)), "each app signs with its own secret"


def test_the_chart_draws_one_stack_per_minute() -> None:
    history = [MinuteCounts(at=60.0 * i, complete=i, failed=i % 2, cancelled=0) for i in range(60)]
    svg = history_svg(history)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="ok"') == 59 and svg.count('class="bad"') == 30
    assert 'class="ok"' not in history_svg([MinuteCounts(at=0.0, complete=0, failed=0, cancelled=0)])


def test_redirects_stay_on_the_dashboard() -> None:
    assert _local("/queues/a", "") == "/queues/a"
    assert _local("/admin/queues/a", "/admin") == "/admin/queues/a"
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "", "queues"):
        assert _local(target, "") == "/"
    assert _local("/elsewhere", "/admin") == "/admin/"
