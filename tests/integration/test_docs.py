"""The Python of the documentation runs: every ```python block of the pages under docs/ and of
README.md is a section of a file that a test runs against a real server.

A page includes a file's section with pymdownx.snippets (``--8<-- "docs/snippets/app.py:use"``);
a README block, which GitHub shows as written, names its sections in the comment above it
(``<!-- snippet: docs/snippets/app.py:use -->``) and must equal them, dedented. The files under
docs/snippets/ run here, each in a process of its own (``python -m NAME`` from that directory,
so ``app.py``'s tasks are named ``app.send_email`` as the pages say; ``test_*.py`` under pytest
with the ``asyncjobs.testing`` plugin); the examples/ files the pages include run in
test_first_use.py and test_web_examples.py. The data model page names every key
``protocol.QueueKeys`` builds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncjobs.server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets"
RUN_ELSEWHERE = {  # included example files, and the test that runs each
    "examples/app.py": "test_first_use.py",
    "examples/scheduling.py": "test_first_use.py",
    "examples/flow_control.py": "test_first_use.py",
    "examples/progress.py": "test_first_use.py",
    "examples/workflows.py": "test_first_use.py",
    "examples/fastapi_app.py": "test_web_examples.py",
    "examples/flask_app.py": "test_web_examples.py",
    "examples/django_app/views.py": "test_web_examples.py",
    "examples/django_app/tasks.py": "test_web_examples.py",
}
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)
INCLUDE = re.compile(r'^--8<-- "([^":]+)(?::([\w-]+))?"$')
README_BLOCK = re.compile(r"<!-- snippet: ([^>]+) -->\n+```python\n(.*?)^```", re.S | re.M)


def section(path: str, name: str | None) -> str:
    """A file's text, or one section of it (between ``--8<-- [start:NAME]`` and
    ``[end:NAME]`` markers), dedented as pymdownx.snippets includes it."""
    text = (ROOT / path).read_text()
    if name is None:
        return text
    found = re.search(rf"^[ \t]*# --8<-- \[start:{name}\]\n(.*?)^[ \t]*# --8<-- \[end:{name}\]\n",
                      text, re.S | re.M)
    assert found, f"{path} has no section {name!r}"
    return textwrap.dedent(found.group(1))


def pages() -> list[Path]:
    return sorted((ROOT / "docs").rglob("*.md"))


def test_every_python_block_of_the_pages_is_a_file_that_runs() -> None:
    included: set[str] = set()
    for page in pages():
        for block in FENCE.findall(page.read_text()):
            for line in filter(None, block.strip().splitlines()):
                match = INCLUDE.match(line.strip())
                assert match, f"{page.name}: a ```python block holds code of its own: {line!r}"
                path, name = match.groups()
                section(path, name)  # the file and its section exist
                assert path.startswith("docs/snippets/") or path in RUN_ELSEWHERE, \
                    f"{page.name} includes {path}, which no test runs"
                included.add(path)
    assert {"docs/snippets/app.py", "docs/snippets/sync_producer.py", "docs/snippets/flow.py",
            "docs/snippets/test_app.py", "docs/snippets/dashboard_mount.py"} <= included
    for page in pages():
        text = page.read_text()
        assert "```py\n" not in text and "```pycon" not in text, f"{page.name}: an unchecked Python block"


def test_every_python_block_of_the_readme_is_a_section_that_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = README_BLOCK.findall(readme)
    assert len(blocks) == len(FENCE.findall(readme)) >= 2, \
        "every ```python block of the README follows a <!-- snippet: FILE:SECTION ... --> comment"
    for sources, block in blocks:
        parts = []
        for source in sources.split():
            path, _, name = source.partition(":")
            assert path.startswith("docs/snippets/") or path in RUN_ELSEWHERE, source
            parts.append(section(path, name or None))
        assert block == "\n".join(parts), f"the README's block differs from {sources}"


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    """A server of the module's own: the snippets use fixed queue names, as users do."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.stem for p in SNIPPETS.glob("*.py")
                                         if not p.stem.startswith("test_")))
def test_snippet_runs(name: str, server: RedisServer) -> None:
    env = {**os.environ, "ASYNCJOBS_REDIS_URL": server.url}
    proc = subprocess.run([sys.executable, "-m", name], cwd=SNIPPETS, env=env, capture_output=True,
                          text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == "ok", proc.stdout


@pytest.mark.slow
def test_snippet_tests_pass_under_the_plugin() -> None:
    tests = sorted(str(p.relative_to(ROOT)) for p in SNIPPETS.glob("test_*.py"))
    assert tests
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "asyncjobs.testing",
                           "-p", "no:cacheprovider", "-q", *tests],
                          cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(tests)} passed" in proc.stdout, proc.stdout


def test_the_data_model_page_names_every_key_the_protocol_declares() -> None:
    from asyncjobs.protocol import REGISTRY, QueueKeys

    page = (ROOT / "docs" / "redis.md").read_text()
    keys = QueueKeys("q")
    declared = [getattr(keys, attr) for attr in type(keys).__slots__ if attr not in ("name", "queue", "base")]
    declared += [keys.job("x")[:-1], keys.processing("w")[:-1], keys.heartbeat("w")[:-1],
                 keys.minute(7)[:-1], REGISTRY]
    for key in declared:
        pattern = re.escape(f"`{key}") + ("" if key.endswith(":") else "`")
        assert re.search(pattern, page), f"docs/redis.md does not describe {key}"
