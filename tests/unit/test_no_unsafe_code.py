"""The package never deserializes with pickle or its kin, and never evaluates strings as code."""

from __future__ import annotations


def test_no_pickle_marshal_eval_or_exec_in_the_package() -> None:
    import ast
    from pathlib import Path

    import asyncjobs

    banned_modules = {"pickle", "marshal", "shelve", "dill", "cloudpickle"}
    banned_calls = {"eval", "exec", "__import__"}
    for path in Path(asyncjobs.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & banned_modules, path
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in banned_modules, path
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in banned_calls, path
            elif isinstance(node, ast.Attribute) and node.attr == "import_module":
                assert path.name == "loader.py", path
