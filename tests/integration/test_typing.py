"""The public API's types, proven by running mypy --strict on example files."""

from __future__ import annotations

import re
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
