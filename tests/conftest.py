"""Shared by every tier: async tests run on asyncio, and a run leaves no files behind.

The tiers: ``tests/unit`` (no Redis), ``tests/integration`` (a real server the suite starts),
``tests/chaos`` (fault injection, opt-in with ``-m chaos``; the soak with ``-m soak``).
Helpers shared across tiers live in ``tests/support``.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import shutil
import tempfile
import warnings

import anyio
import pytest

pytest_plugins = ["pytester"]  # tests/integration/test_testing_plugin.py runs pytest on test files


def _import_every_part_of_anyio() -> None:
    """anyio imports its parts on first use, and pytest rewrites (parses) the modules of a plugin,
    anyio's among them, as they are imported. Import them all now, before a test starts threads
    (the dashboard's server runs in one): two threads building ASTs at once can fail on Python
    3.11.7 with "SystemError: AST constructor recursion depth mismatch"."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in pkgutil.walk_packages(anyio.__path__, "anyio."):
            if "trio" not in module.name:  # the trio backend needs trio
                with contextlib.suppress(ImportError):
                    importlib.import_module(module.name)


_import_every_part_of_anyio()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Unless ``--basetemp`` is given, every ``tmp_path`` of this run (server copies, worker logs,
    ledgers) lives in one fresh folder that is removed when the run ends."""
    if config.option.basetemp is None:
        basetemp = tempfile.mkdtemp(prefix="asyncjobs-tests-")
        config.option.basetemp = basetemp
        config.add_cleanup(lambda: shutil.rmtree(basetemp, ignore_errors=True))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"  # redis.asyncio runs on asyncio only
