"""docker-compose.yml points at real things: its services, images, commands, worker targets,
extras and environment. No Docker daemon runs where this project is built, so this is the
check (`docker compose config` validates the file against Compose's schema where one does)."""

from __future__ import annotations

import importlib
import re
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from asyncjobs import Queue
from asyncjobs.loader import load_queue

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def steps(service: dict[str, Any]) -> list[list[str]]:
    """A ``sh -c "a && b"`` command, as the argument lists of its steps."""
    shell, flag, script = shlex.split(service["command"])
    assert (shell, flag) == ("sh", "-c")
    return [shlex.split(step) for step in script.split("&&")]


def installed_extras(step: list[str], project: dict[str, Any]) -> set[str]:
    """The extras of a ``pip install -q '.[a,b]'`` step, each checked to exist."""
    assert step[:2] == ["pip", "install"], step
    [spec] = [arg for arg in step[2:] if not arg.startswith("-")]
    found = re.fullmatch(r"\.\[([\w,-]+)\]", spec)
    assert found, spec
    extras = set(found.group(1).split(","))
    assert extras <= set(project["optional-dependencies"]), extras
    return extras


def test_the_services_and_their_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"redis", "worker", "web"}
    redis_image, redis_tag = services["redis"]["image"].split(":")
    assert redis_image == "redis" and int(redis_tag.split(".")[0]) >= 7  # BLMOVE, LPOS, Lua 5.1
    for name in ("worker", "web"):
        image, tag = services[name]["image"].split(":")
        version = tuple(int(part) for part in tag.split("-")[0].split("."))
        assert image == "python" and version >= (3, 11), services[name]["image"]  # requires-python
        assert services[name]["volumes"] == [".:/app"] and services[name]["working_dir"] == "/app"
        assert services[name]["depends_on"] == {"redis": {"condition": "service_healthy"}}
        url = services[name]["environment"]["ASYNCJOBS_REDIS_URL"]
        assert url == "redis://redis:6379/0", "the redis service, by its name on the compose network"
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{port}: published on loopback only"


def test_redis_is_configured_for_a_job_queue(compose: dict[str, Any]) -> None:
    command = compose["services"]["redis"]["command"]
    assert command[0] == "redis-server"
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options == {"--appendonly": "yes", "--appendfsync": "everysec",
                       "--maxmemory-policy": "noeviction"}


def test_the_worker_serves_queues_that_exist(compose: dict[str, Any], project: dict[str, Any],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    install, run = steps(compose["services"]["worker"])
    installed_extras(install, project)
    assert run[0] in project["scripts"] and run[1] == "worker", run
    targets = [arg for arg in run[2:] if ":" in arg and not arg.startswith("-")]
    assert targets == ["examples.app:queue", "examples.fastapi_app:queue"]
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_queue puts the app dir first
    queues = [load_queue(target, str(ROOT)) for target in targets]
    assert all(isinstance(queue, Queue) for queue in queues)
    assert len({queue.name for queue in queues}) == len(queues)
    assert int(run[run.index("--concurrency") + 1]) >= len(queues)


def test_the_web_service_runs_the_fastapi_example(compose: dict[str, Any],
                                                  project: dict[str, Any]) -> None:
    install, run = steps(compose["services"]["web"])
    extras = installed_extras(install, project)
    assert run[0] == "uvicorn"
    assert any(dep.startswith("uvicorn") for extra in extras
               for dep in project["optional-dependencies"][extra]), "uvicorn comes with an extra"
    module, _, attribute = run[1].partition(":")
    from fastapi import FastAPI

    assert isinstance(getattr(importlib.import_module(module), attribute), FastAPI)
    port = run[run.index("--port") + 1]
    assert compose["services"]["web"]["ports"] == [f"127.0.0.1:{port}:{port}"]
