"""The public API's types, proven by running mypy --strict and pyright strict on example files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mypy import api

HERE = Path(__file__).parents[1] / "typing"
ROOT = HERE.parent.parent


def run_mypy(path: Path) -> tuple[str, int]:
    out, err, code = api.run(
        ["--strict", "--no-incremental", "--cache-dir", "/dev/null", "--config-file",
         str(ROOT / "pyproject.toml"), str(path)]
    )
    return out + err, code


@pytest.mark.slow
def test_well_typed_usage_passes() -> None:
    out, code = run_mypy(HERE / "check_ok.py")
    assert code == 0, out


@pytest.mark.slow
def test_each_misuse_is_a_type_error() -> None:
    path = HERE / "check_fail.py"
    expected = {
        number: match.group(1)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if (match := re.search(r"# E: ([\w-]+)", line))
    }
    out, code = run_mypy(path)
    assert code == 1, out
    found: dict[int, set[str]] = {}
    for match in re.finditer(r"check_fail\.py:(\d+): error: .*\[([\w-]+)\]", out):
        found.setdefault(int(match.group(1)), set()).add(match.group(2))
    assert set(found) == set(expected), out
    for number, code_name in expected.items():
        assert code_name in found[number], (number, out)


def run_pyright(path: Path) -> list[dict[str, object]]:
    """pyright's errors on ``path`` (each file says ``# pyright: strict``)."""
    pyright = Path(sys.executable).parent / "pyright"
    proc = subprocess.run([str(pyright), "--outputjson", str(path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    report = json.loads(proc.stdout)
    return [d for d in report["generalDiagnostics"] if d["severity"] == "error"]


def line_of(diagnostic: dict[str, object]) -> int:
    return int(diagnostic["range"]["start"]["line"]) + 1  # type: ignore[index]


@pytest.mark.slow
def test_well_typed_usage_passes_pyright_strict() -> None:
    assert run_pyright(HERE / "check_ok.py") == []


@pytest.mark.slow
def test_each_misuse_is_a_pyright_error() -> None:
    path = HERE / "check_fail.py"
    marked = {number for number, line in enumerate(path.read_text().splitlines(), start=1)
              if re.search(r"# E: [\w-]+$", line)}
    errors = run_pyright(path)
    assert {line_of(d) for d in errors} == marked, errors
