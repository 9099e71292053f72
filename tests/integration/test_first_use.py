"""What a new user meets first: the example app, task names, the package, the CLI's errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
import typer.main

import asyncjobs
from asyncjobs import ConfigError, EnqueueError, Queue, Settings, Worker
from asyncjobs.cli import app
from asyncjobs.inspector import Inspector
from asyncjobs.protocol import Stat
from asyncjobs.server import RedisServer, free_port

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of this test's own (the example app's queue name is fixed)."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.mark.slow
async def test_the_example_app_run_with_python_m_completes_its_jobs(own_server: RedisServer) -> None:
    env = {**os.environ, "ASYNCJOBS_REDIS_URL": own_server.url}
    worker = start("-m", "asyncjobs", "worker", "examples.app:queue", "--log-level", "WARNING",
                   env=env)
    try:
        producer = run("-m", "examples.app", env=env)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, worker_err = worker.communicate(timeout=30)
    assert producer.returncode == 0, producer.stderr
    assert "'status': 'sent'" in producer.stdout
    assert "cat-640.jpg" in producer.stdout
    assert "report for 42, attempt 1, via smtp-client" in producer.stdout
    assert worker.returncode == 0, worker_err
    queue = Queue("emails", own_server.url)
    try:
        assert await queue.inspect.dead_letters() == []
        assert (await queue.inspect.stats()).get("complete") == 3
    finally:
        await queue.aclose()


EXAMPLES = {  # module: (the worker's extra options, the producer's last lines of output)
    "scheduling": (["--concurrency", "1"], [
        "paused: True", "charged order 1", "charged order 2", "charged order 3",
        "started: orders 3, 2, 1", "order 4 expired before it started: it never ran",
        "cancelled: True", "report 7 was cancelled while it ran",
    ]),
    "flow_control": ([], [
        "one invoice job: True invoice 1 sent",
        "one reindex job: True with the last arguments: 2",
        "render: 6 jobs, 2 at a time: True",
        "call_crm: 10 starts at 20/s: True",
    ]),
    "progress": ([], [
        "encode: video 42 encoded",
        "progress seen while it ran: True",
        "final progress: 1.0 pass 4 of 4",
        "log: pass 1 done | pass 2 done | pass 3 done | pass 4 done | took",
    ]),
    "workflows": ([], [
        "after: post 42 published",
        "pipeline: stored 17 in pages",
        "group: album of 2: x.jpg@640, y.jpg@640",
        "gather: [2, 3]",
        "events of the publish job: ['enqueued', 'started', 'completed']",
    ]),
}


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_each_example_runs_as_the_readme_says(example: str, own_server: RedisServer) -> None:
    """A worker on ``examples/<example>.py``, then its producer, as its docstring says."""
    options, expected = EXAMPLES[example]
    env = {**os.environ, "ASYNCJOBS_REDIS_URL": own_server.url}
    worker = start("-m", "asyncjobs", "worker", f"examples.{example}:queue", *options,
                   "--log-level", "WARNING", env=env)
    try:
        producer = run("-m", f"examples.{example}", env=env)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, worker_err = worker.communicate(timeout=30)
    assert producer.returncode == 0, producer.stderr
    assert producer.stdout.splitlines()[-len(expected):] == expected
    assert worker.returncode == 0, worker_err


def test_tasks_of_a_module_run_with_python_m_are_named_by_its_import_name(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "jobs.py").write_text(
        "from asyncjobs import Queue\n"
        "queue = Queue('shop')\n"
        "@queue.task\n"
        "async def ship(order: int) -> None: ...\n"
        "print(sorted(queue.tasks))\n"
    )
    proc = run("-m", "shop.jobs", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['shop.jobs.ship']"


def test_a_task_in_a_script_run_by_path_must_be_named(tmp_path: Path) -> None:
    script = tmp_path / "jobs.py"
    script.write_text(
        "from asyncjobs import Queue\n"
        "queue = Queue('shop')\n"
        "@queue.task(name='ship')\n"
        "async def ship(order: int) -> None: ...\n"
        "print(sorted(queue.tasks))\n"
        "@queue.task\n"
        "async def unnamed(order: int) -> None: ...\n"
    )
    proc = run(str(script), cwd=tmp_path)
    assert proc.stdout.strip() == "['ship']"
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("asyncjobs.errors.ConfigError: task 'unnamed' is defined in a script run by")
    assert "python -m" in last and "name=" in last


def test_the_distribution_is_asyncjobs_redis_with_the_asyncjobs_command() -> None:
    dist = metadata.distribution("asyncjobs-redis")
    assert dist.version == asyncjobs.__version__
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"asyncjobs": "asyncjobs.cli:main"}
    requires = dist.requires or []
    assert any(req.startswith("rich") for req in requires), "the demo's rich is declared"
    # the dev extra names this distribution's own test extra, which the build flattens; under
    # any other name it would pull a distribution from the index instead
    assert "pytest>=8; extra == 'dev'" in requires
    assert not [req for req in requires if req.startswith("asyncjobs")]


def test_version_option_prints_the_version() -> None:
    proc = run("-m", "asyncjobs", "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"asyncjobs {asyncjobs.__version__}"


def test_every_command_option_has_help() -> None:
    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    params = [(name, param) for name, sub in command.commands.items() for param in sub.params]
    missing = [f"{name} {param.name}" for name, param in params
               if getattr(param, "help", None) in (None, "") and param.name != "help"]
    assert missing == []
    assert {"worker concurrency", "demo concurrency"} <= {f"{n} {p.name}" for n, p in params}


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (("worker", "x:y", "--log-level", "foo"), {},
         "error: --log-level must be one of DEBUG, INFO, WARNING, ERROR, got 'foo'"),
        (("worker", "x:y", "--wait-scheduled", "5"), {},
         "error: --wait-scheduled applies to a --burst worker only"),
        (("worker", "x:y", "--loop", "trio"), {},
         "error: --loop must be one of auto, uvloop, asyncio, got 'trio'"),
        (("demo", "--jobs", "5"), {"ASYNCJOBS_REDIS_SERVER": "/nope"},
         "error: $ASYNCJOBS_REDIS_SERVER is '/nope', which is not an executable file"),
        (("demo", "--jobs", "5"), {"ASYNCJOBS_REDIS_SERVER": "/bin/false"},
         "error: /bin/false exited with code 1 on port"),
    ],
)
def test_bad_options_and_servers_print_one_line_and_exit_2(
    args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    environ = {key: value for key, value in os.environ.items() if key != "ASYNCJOBS_REDIS_URL"}
    proc = run("-m", "asyncjobs", *args, env={**environ, **env})
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(expected), proc.stderr


async def test_an_enqueue_to_a_stalled_server_says_what_happened(own_server: RedisServer) -> None:
    queue = Queue("stall", own_server.url, settings=Settings(enqueue_timeout=0.5))

    @queue.task(name="noop")
    async def noop() -> None:
        return None

    assert own_server.process is not None
    own_server.process.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(EnqueueError) as caught:
            await noop.delay()
    finally:
        own_server.process.send_signal(signal.SIGCONT)
        await queue.aclose()
    assert str(caught.value) == (
        "queue 'stall': Redis did not take the job(s): no reply within 0.5 s (enqueue_timeout)"
    )


async def test_an_enqueue_to_no_server_names_the_error() -> None:
    queue = Queue("gone", f"redis://127.0.0.1:{free_port()}/0", settings=Settings(enqueue_timeout=2))

    @queue.task(name="noop")
    async def noop() -> None:
        return None

    try:
        with pytest.raises(EnqueueError) as caught:
            await noop.delay()
    finally:
        await queue.aclose()
    assert "Redis did not take the job(s): ConnectionError: " in str(caught.value)


def test_long_refused_names_are_cut_in_the_message() -> None:
    with pytest.raises(ConfigError) as job_id:
        Queue("q").task(name="t")(lambda: None).options(job_id="j" * 10_000)
    with pytest.raises(ConfigError) as queue_name:
        Queue("q" * 10_000)
    with pytest.raises(ConfigError) as worker_id:
        Worker(Queue("q"), worker_id="w/" * 500)
    for caught, value, size in [(job_id, "j", 10_000), (queue_name, "q", 10_000),
                                (worker_id, "w/", 1_000)]:
        message = str(caught.value)
        assert f"{(value * 40)[:40]!r}... ({size} chars) must match" in message
        assert len(message) < 120, message


def test_every_counter_is_documented() -> None:
    # the scripts name only counters declared in protocol.Stat (their source fails to load else)
    page = (ROOT / "docs" / "operations.md").read_text()
    for counter in Stat:
        assert f"| `{counter.value}` |" in page
        assert counter.value in (Inspector.stats.__doc__ or "")
    assert "pending_count()" in page and Inspector.pending_count.__doc__
